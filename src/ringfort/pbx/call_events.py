"""What calls publish on the event bus: ringing, answered, held, resumed, ended.

The CDR writer, and later the queue log, the live panel and metrics, subscribe
to these; the call core knows nothing of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ringfort.disposition import Disposition, HangupBy


@dataclass(frozen=True, slots=True)
class CallEvent:
    """Base of every call event: which call, and who is on it."""

    uniqueid: str
    """This call's id (the CDR ``uniqueid``)."""
    linkedid: str
    """Shared by every call that belongs to one conversation (the CDR ``linkedid``)."""
    src: str
    """The caller's number."""
    dst: str
    """The number dialled."""


@dataclass(frozen=True, slots=True)
class CallStarted(CallEvent):
    """An authenticated INVITE became a call."""

    clid: str
    """Caller ID as Asterisk writes it: ``"Name" <number>``."""
    start: datetime


@dataclass(frozen=True, slots=True)
class CallRinging(CallEvent):
    """A phone of the callee rings (the first 180 or 183)."""

    at: datetime


@dataclass(frozen=True, slots=True)
class CallAnswered(CallEvent):
    """The callee answered; media flows."""

    at: datetime


@dataclass(frozen=True, slots=True)
class CallHeld(CallEvent):
    """One side put the other on hold (a re-offer with sendonly or inactive)."""

    by: HangupBy
    """The side that held (``caller`` or ``callee``)."""
    at: datetime


@dataclass(frozen=True, slots=True)
class CallResumed(CallEvent):
    """A held call was taken off hold."""

    by: HangupBy
    at: datetime


@dataclass(frozen=True, slots=True)
class CallEnded(CallEvent):
    """The call is over; everything a call detail record needs."""

    clid: str
    start: datetime
    answer: datetime | None
    end: datetime
    disposition: Disposition
    hangup_by: HangupBy
    cause: str
    """Why, in a word or two: ``normal``, ``busy``, ``no-answer``, ``rtp-timeout``, ..."""
    status: int
    """The SIP status the caller was given (200 for an answered call)."""
    recording: str | None = None
    """The call's recording, relative to the recordings directory, if it was recorded."""
    answered_by: str | None = None
    """The extension whose phone answered (not always ``dst``: a forward, a DID or a time
    condition may have put the call through to another); None when no phone did."""
