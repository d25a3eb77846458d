"""Voicemail: a caller who did not reach an extension leaves a message in its mailbox.

The caller hears the mailbox's greeting: its temporary greeting if one is recorded,
else its busy or unavailable one, else its recorded name followed by "is not
available" (or "is on the phone"), else "The person at extension 1 0 1 is not
available"; then "Please leave your message after the tone...", a beep, and is
recorded until they hang up, press ``#``, stay silent or reach the length limit.
``0`` during the greeting goes to the mailbox's operator, if it has one. A message
shorter than the minimum is dropped (a caller who hung up at the beep), and a full
mailbox takes none. The message is a mono WAV file with a row that names it; where
they are kept is the store's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ringfort.apps.ivr.menu import clips_for
from ringfort.media.engine import AudioClip
from ringfort.media.prompts import PromptLibrary, PromptNotFoundError, load_file
from ringfort.pbx.control import CallControl, CallGoneError
from ringfort.pbx.destination import Destination
from ringfort.rtp.tones import BEEP

__all__ = [
    "Greeting",
    "Mailbox",
    "MailboxStore",
    "MessageLimits",
    "MessageStore",
    "NewMessage",
    "StoredMessage",
    "greeting_clips",
    "leave_message",
    "load_recording",
]

log = logging.getLogger(__name__)

BEEP_SECONDS = 0.3


class Greeting(enum.StrEnum):
    """The greetings a mailbox's owner can record."""

    UNAVAILABLE = "unavailable"
    BUSY = "busy"
    NAME = "name"
    """The owner saying their name, used in the generated greeting."""
    TEMPORARY = "temporary"
    """While recorded, played instead of the others (on holiday, out of the office)."""


@dataclass(frozen=True, slots=True)
class MessageLimits:
    """How long a message may be, and what counts as one."""

    max_seconds: float = 180.0
    silence_seconds: float = 10.0
    """The recording stops after this long without sound."""
    min_seconds: float = 1.0
    """Shorter messages are dropped."""


@dataclass(frozen=True, slots=True)
class Mailbox:
    """An extension's mailbox as the voicemail applications need it."""

    number: str
    enabled: bool = True
    """Calls to the extension that fail go to it (the menu works either way)."""
    pin: str | None = None
    ask_pin: bool = True
    """False: the owner's own phone gets in without the PIN."""
    operator: Destination | None = None
    """Where ``0`` during the greeting goes."""
    max_messages: int = 100
    max_seconds: float = 180.0
    messages: int = 0
    """How many it holds now."""
    greetings: Mapping[Greeting, Path] = field(default_factory=dict)
    """The greetings recorded, by kind."""


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


class StoredMessage(Protocol):
    """A message in a mailbox, as the phone menu plays it."""

    @property
    def id(self) -> int:
        """The message's id."""
        ...

    @property
    def folder(self) -> str:
        """``INBOX`` (new) or ``Old``."""
        ...

    @property
    def caller(self) -> str:
        """Who left it (a number, or what the caller ID said)."""
        ...

    @property
    def received_at(self) -> datetime:
        """When it was left."""
        ...

    @property
    def file(self) -> str:
        """Its WAV file."""
        ...


class MessageStore(Protocol):
    """Where messages go (the voicemail service)."""

    async def mailbox(self, number: str) -> Mailbox | None:
        """The mailbox of extension ``number``; None if there is no such extension."""
        ...

    def new_file(self, mailbox: str) -> Path:
        """A path (in an existing folder) for the next message of ``mailbox``."""
        ...

    async def save(self, message: NewMessage) -> None:
        """Keep ``message``: from here it is in the mailbox."""
        ...

    def discard(self, file: Path) -> None:
        """Delete the file of a recording that is not a message."""
        ...


class MailboxStore(MessageStore, Protocol):
    """What the owner's phone menu does to a mailbox (the voicemail service)."""

    async def messages(self, mailbox: str) -> Sequence[StoredMessage]:
        """The messages of ``mailbox``."""
        ...

    async def mark_read(self, message_id: int) -> object:
        """Move a message to ``Old``."""
        ...

    async def delete(self, message_id: int) -> None:
        """Delete a message."""
        ...

    async def forward(self, message_id: int, mailbox: str) -> bool:
        """Put a copy of a message in ``mailbox``, as new; False if it cannot take it."""
        ...

    async def set_pin(self, number: str, pin: str | None) -> None:
        """Change the mailbox's PIN."""
        ...

    def new_greeting_file(self, number: str) -> Path:
        """A path (in an existing folder) to record a greeting into before it is kept."""
        ...

    async def save_greeting(self, number: str, kind: Greeting, recorded: Path) -> None:
        """Make ``recorded`` the mailbox's ``kind`` greeting (replacing the old one)."""
        ...

    async def delete_greeting(self, number: str, kind: Greeting) -> None:
        """Remove the mailbox's ``kind`` greeting."""
        ...


async def load_recording(path: Path | str) -> AudioClip | None:
    """A recorded file (a message, a greeting) as a clip; None, logged, if it cannot be read."""
    try:
        return await asyncio.to_thread(load_file, Path(path))
    except PromptNotFoundError as error:
        log.warning("%s", error)
        return None


async def greeting_clips(
    mailbox: Mailbox, *, busy: bool, prompts: PromptLibrary, language: str
) -> list[AudioClip]:
    """What a caller hears before leaving a message (without the leave-a-message prompt)."""
    recorded = mailbox.greetings
    chosen = recorded.get(Greeting.TEMPORARY) or recorded.get(
        Greeting.BUSY if busy else Greeting.UNAVAILABLE
    )
    if chosen is not None and (clip := await load_recording(chosen)) is not None:
        return [clip]
    state = "vm-busy" if busy else "vm-unavailable"
    name = recorded.get(Greeting.NAME)
    if name is not None and (clip := await load_recording(name)) is not None:
        return [clip, *clips_for(prompts, (state,), language)]
    digits = tuple(f"digits/{digit}" for digit in mailbox.number)
    return clips_for(prompts, ("vm-person-at", *digits, state), language)


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
) -> Destination | None:
    """Take a message for ``mailbox`` from the caller (the greeting for a busy extension when
    ``busy``); the mailbox's operator if the caller pressed 0 for it, else None."""
    await call.answer()
    box = await store.mailbox(mailbox)
    if box is None:
        log.warning("call %s: voicemail for %s, which is not an extension", call.uniqueid, mailbox)
        await call.play(clips_for(prompts, ("not-available", "goodbye"), language))
        return None
    if box.messages >= box.max_messages:
        log.warning(
            "call %s: mailbox %s is full (%d messages); no message taken",
            call.uniqueid,
            mailbox,
            box.messages,
        )
        await call.play(clips_for(prompts, ("vm-mailbox-full", "goodbye"), language))
        return None
    greeting = await greeting_clips(box, busy=busy, prompts=prompts, language=language)
    key = await call.play(
        [*greeting, *clips_for(prompts, ("vm-leave-message",), language)], interruptible=True
    )
    call.take_digits()  # a key that cut the greeting short is not the message's end
    if key == "0" and box.operator is not None:
        log.info("call %s: to %s's operator %s", call.uniqueid, mailbox, box.operator)
        return box.operator
    await call.play_tone(BEEP, BEEP_SECONDS)
    file = store.new_file(mailbox)
    received_at = now()
    result = await call.record(
        file,
        max_seconds=min(limits.max_seconds, box.max_seconds),
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
        return None
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
    return None
