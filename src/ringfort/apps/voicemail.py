"""Voicemail: a caller who did not reach an extension leaves a message in its mailbox.

The caller hears "The person at extension 1 0 1 is not available" (or "is on the
phone" when the extension was busy), "Please leave your message after the
tone...", a beep, and is recorded until they hang up, press ``#``, stay silent
or reach the length limit. A message shorter than the minimum is dropped (a
caller who hung up at the beep). The message is a mono WAV file with a row that
names it; where they are kept is the store's business.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ringfort.apps.ivr.menu import clips_for
from ringfort.media.prompts import PromptLibrary
from ringfort.pbx.control import CallControl, CallGoneError
from ringfort.rtp.tones import BEEP

__all__ = ["MessageLimits", "MessageStore", "NewMessage", "leave_message"]

log = logging.getLogger(__name__)

BEEP_SECONDS = 0.3


@dataclass(frozen=True, slots=True)
class MessageLimits:
    """How long a message may be, and what counts as one."""

    max_seconds: float = 180.0
    silence_seconds: float = 10.0
    """The recording stops after this long without sound."""
    min_seconds: float = 1.0
    """Shorter messages are dropped."""


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message just recorded, for the store to keep."""

    mailbox: str
    caller: str
    clid: str
    received_at: datetime
    seconds: float
    file: Path
    uniqueid: str


class MessageStore(Protocol):
    """Where messages go (the voicemail service)."""

    def new_file(self, mailbox: str) -> Path:
        """A path (in an existing folder) for the next message of ``mailbox``."""
        ...

    async def save(self, message: NewMessage) -> None:
        """Keep ``message``: from here it is in the mailbox."""
        ...

    def discard(self, file: Path) -> None:
        """Delete the file of a recording that is not a message."""
        ...


async def leave_message(
    call: CallControl,
    mailbox: str,
    *,
    busy: bool,
    store: MessageStore,
    prompts: PromptLibrary,
    language: str,
    limits: MessageLimits,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Take a message for ``mailbox`` from the caller (the greeting for a busy extension when
    ``busy``)."""
    await call.answer()
    digits = tuple(f"digits/{digit}" for digit in mailbox)
    greeting = ("vm-person-at", *digits, "vm-busy" if busy else "vm-unavailable")
    await call.play(
        clips_for(prompts, (*greeting, "vm-leave-message"), language), interruptible=True
    )
    call.take_digits()  # a key that cut the greeting short is not the message's end
    await call.play_tone(BEEP, BEEP_SECONDS)
    file = store.new_file(mailbox)
    received_at = now()
    result = await call.record(
        file,
        max_seconds=limits.max_seconds,
        silence_stop=limits.silence_seconds,
        metadata={"mailbox": mailbox, "caller": call.caller, "uniqueid": call.uniqueid},
    )
    if result.seconds < limits.min_seconds:
        log.info(
            "call %s: a %.1f s message for %s is too short; dropped",
            call.uniqueid,
            result.seconds,
            mailbox,
        )
        store.discard(file)
        return
    await store.save(
        NewMessage(
            mailbox, call.caller, call.clid, received_at, result.seconds, file, call.uniqueid
        )
    )
    log.info(
        "call %s: a %.1f s message from %s for %s (%s)",
        call.uniqueid,
        result.seconds,
        call.caller,
        mailbox,
        result.ended_by,
    )
    if not call.gone:
        with contextlib.suppress(CallGoneError):
            await call.play(clips_for(prompts, ("vm-saved", "goodbye"), language))
