"""The voicemail phone menu: the owner listens to and manages their mailbox by phone.

Reached with ``*97`` from the owner's own phone (the PIN is asked unless the mailbox
says not) or with the voicemail main number (``*98``, or a ``voicemail`` destination)
from any phone, which asks the mailbox number too. Three wrong logins hang up, and
are logged for the administrator (and for fail2ban-style watching).

The keys are those of Asterisk's and FreePBX's voicemail, so users moving over keep
their habits:

- main menu: ``1`` listen (new messages first, then old, oldest first), ``0`` mailbox
  options, ``*`` the menu again, ``#`` hang up;
- while a message plays or after it: ``5`` again, ``4`` previous, ``6`` next,
  ``7`` delete (again: keep; deletions take effect when the caller leaves the menu),
  ``9`` save, ``8`` forward to another mailbox, ``3`` call the caller back, ``*`` the
  main menu, ``#`` hang up;
- mailbox options: ``1`` unavailable greeting, ``2`` busy greeting, ``3`` name,
  ``4`` temporary greeting (record or remove), ``5`` change the PIN, ``*`` back.

Each message is introduced by its number, when it came ("received today at 3 oh 5 P
M") and who left it; playing it moves it from new to old, which turns the phone's
message lamp off once no new message is left.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from ringfort.apps.ivr.menu import clips_for
from ringfort.apps.speech import number_words, when_words
from ringfort.apps.voicemail import (
    BEEP_SECONDS,
    Greeting,
    Mailbox,
    MailboxStore,
    StoredMessage,
    load_recording,
)
from ringfort.media.prompts import PromptLibrary
from ringfort.pbx.control import CallControl
from ringfort.pbx.destination import is_number
from ringfort.rtp.tones import BEEP

__all__ = ["MenuTiming", "run_voicemail_menu"]

log = logging.getLogger(__name__)

LOGIN_ATTEMPTS = 3
PIN_DIGITS = (4, 16)
"""The shortest and longest PIN a caller may set from the phone."""
MAX_NUMBER_DIGITS = 20
_GREETING_KEYS = {
    "1": Greeting.UNAVAILABLE,
    "2": Greeting.BUSY,
    "3": Greeting.NAME,
    "4": Greeting.TEMPORARY,
}


@dataclass(frozen=True, slots=True)
class MenuTiming:
    """How long the menu waits for the caller, and how long a greeting may be."""

    first_digit: float = 6.0
    next_digit: float = 4.0
    choice_tries: int = 3
    """Menus repeated after no or a wrong key before the menu says goodbye."""
    greeting_seconds: float = 60.0
    greeting_silence: float = 5.0


@dataclass(slots=True)
class _Session:
    """One caller in one mailbox."""

    call: CallControl
    store: MailboxStore
    prompts: PromptLibrary
    language: str
    timing: MenuTiming
    zone: tzinfo | None
    now: Callable[[], datetime]
    box: Mailbox
    deleted: set[int] = field(default_factory=set)

    async def say(self, *names: str, interruptible: bool = False) -> str | None:
        return await self.call.play(
            clips_for(self.prompts, names, self.language), interruptible=interruptible
        )

    async def choose(self, names: Sequence[str], keys: str) -> str | None:
        """Play ``names`` (a key cuts them short) until one of ``keys`` is pressed; None when
        the caller presses nothing (or only wrong keys) ``choice_tries`` times."""
        for _ in range(self.timing.choice_tries):
            await self.say(*names, interruptible=True)
            key = await self.call.collect_digits(1, self.timing.first_digit, terminator="")
            if key in keys and key:
                return key
            self.call.take_digits()
            await self.say("invalid" if key else "no-input")
        return None

    async def enter(self, names: Sequence[str], max_digits: int) -> str:
        """Play ``names`` and take digits up to ``#``."""
        await self.say(*names, interruptible=True)
        return await self.call.collect_digits(
            max_digits, self.timing.first_digit * 2, interdigit_timeout=self.timing.next_digit
        )


async def run_voicemail_menu(
    call: CallControl,
    store: MailboxStore,
    prompts: PromptLibrary,
    language: str,
    *,
    mailbox: str | None,
    zone: tzinfo | None = None,
    timing: MenuTiming | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Let the caller into ``mailbox`` (their own, by ``*97``), or into the one they name
    (``mailbox`` None), and run the menu until they hang up, press ``#`` or call back.

    ``zone`` is the time zone messages' times are said in (None: the server's).
    A call-back transfers the caller (`CallControl.transfer` raises; let it pass).
    """
    await call.answer()
    box = await _login(call, store, prompts, language, mailbox, timing or MenuTiming())
    if box is None:
        return
    session = _Session(call, store, prompts, language, timing or MenuTiming(), zone, now, box)
    try:
        await _main_menu(session)
    finally:
        # Deleting happens on the way out, so 7 can be undone until then.
        for message_id in sorted(session.deleted):
            try:
                await store.delete(message_id)
            except Exception:  # one message's trouble must not keep the others
                log.exception("voicemail %s: could not delete message %d", box.number, message_id)


async def _login(
    call: CallControl,
    store: MailboxStore,
    prompts: PromptLibrary,
    language: str,
    own: str | None,
    timing: MenuTiming,
) -> Mailbox | None:
    """The mailbox the caller proved to own; None (hung up, logged) after three failures."""
    for _ in range(LOGIN_ATTEMPTS):
        number = own
        if number is None:
            await call.play(clips_for(prompts, ("vm-enter-mailbox",), language), interruptible=True)
            number = await call.collect_digits(
                MAX_NUMBER_DIGITS, timing.first_digit * 2, interdigit_timeout=timing.next_digit
            )
        box = await store.mailbox(number) if number and is_number(number) else None
        if own is not None and box is not None and (not box.ask_pin or not box.pin):
            # The phone is the owner's (it authenticated as the extension).
            return box
        await call.play(clips_for(prompts, ("enter-pin",), language), interruptible=True)
        pin = await call.collect_digits(
            PIN_DIGITS[1], timing.first_digit * 2, interdigit_timeout=timing.next_digit
        )
        # A mailbox without a PIN cannot be opened from another phone.
        if box is not None and box.pin and hmac.compare_digest(pin.encode(), box.pin.encode()):
            log.info("call %s: %s logged in to mailbox %s", call.uniqueid, call.caller, box.number)
            return box
        log.info(
            "call %s: wrong voicemail login for mailbox %s from %s",
            call.uniqueid,
            number or "(none)",
            call.caller,
        )
        await call.play(clips_for(prompts, ("pin-incorrect",), language))
    log.warning(
        "voicemail login failed %d times for mailbox %s from %s (call %s); hung up",
        LOGIN_ATTEMPTS,
        own or "(asked)",
        call.caller,
        call.uniqueid,
    )
    await call.play(clips_for(prompts, ("goodbye",), language))
    await call.hangup("voicemail-login-failed")
    return None


async def _main_menu(session: _Session) -> None:
    await _say_counts(session)
    while True:
        key = await session.choose(("vm-main-menu",), "10*#")
        if key is None or key == "#":
            await session.say("goodbye")
            await session.call.hangup()
            return
        if key == "1":
            if not await _listen(session):
                return
        elif key == "0":
            await _options(session)


async def _say_counts(session: _Session) -> None:
    messages = await session.store.messages(session.box.number)
    new = sum(message.folder == "INBOX" for message in messages)
    old = len(messages) - new
    if not messages:
        await session.say("vm-no-messages", interruptible=True)
        return
    words = ["vm-you-have"]
    if new:
        words += [*number_words(new), "vm-new-message" if new == 1 else "vm-new-messages"]
    if new and old:
        words.append("and")
    if old:
        words += [*number_words(old), "vm-old-message" if old == 1 else "vm-old-messages"]
    await session.say(*words, interruptible=True)


async def _listen(session: _Session) -> bool:
    """Play the messages; False when the caller is done with the menu (hung up, ``#``)."""
    found = await session.store.messages(session.box.number)
    messages = sorted(found, key=lambda m: (m.folder != "INBOX", m.received_at, m.id))
    if not messages:
        await session.say("vm-no-messages")
        return True
    index = 0
    announce = True
    while True:
        message = messages[index]
        key = await _play(session, message, index, announce=announce)
        announce = True
        if key is None:
            key = await session.choose(("vm-message-menu",), "345679*#8")
        session.call.take_digits()
        if key is None or key == "#":
            await session.say("goodbye")
            await session.call.hangup()
            return False
        if key == "*":
            return True
        if key == "5":
            continue
        if key == "4":
            if index == 0:
                await session.say("vm-first-message")
            else:
                index -= 1
            continue
        if key == "6":
            if index + 1 >= len(messages):
                await session.say("vm-no-more")
                return True
            index += 1
            continue
        if key == "7":
            if message.id in session.deleted:
                session.deleted.discard(message.id)
                await session.say("vm-undeleted")
                continue
            session.deleted.add(message.id)
            await session.say("vm-deleted")
            if index + 1 >= len(messages):
                await session.say("vm-no-more")
                return True
            index += 1
            continue
        if key == "9":
            session.deleted.discard(message.id)
            await session.store.mark_read(message.id)
            await session.say("vm-message-saved")
        elif key == "8":
            await _forward(session, message)
        elif key == "3":
            await _call_back(session, message)
        announce = False  # back to the message's menu, not its audio


async def _play(
    session: _Session, message: StoredMessage, index: int, *, announce: bool
) -> str | None:
    """Introduce and play a message; the key that cut it short, if any.

    ``announce`` False: go straight to the message menu (after saving, forwarding)."""
    if not announce:
        return None
    intro = ["vm-message", *number_words(index + 1)]
    if message.id in session.deleted:
        intro.append("vm-marked-deleted")
    zone = session.zone
    received = message.received_at
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    intro += ["vm-received", *when_words(received.astimezone(zone), session.now().astimezone(zone))]
    caller = "".join(digit for digit in message.caller if digit.isdigit())
    intro += ["vm-from", *([f"digits/{d}" for d in caller] or ["vm-unknown-caller"])]
    key = await session.say(*intro, interruptible=True)
    if key is not None:
        return session.call.take_digits()[:1]
    if message.folder == "INBOX":
        await session.store.mark_read(message.id)
    audio = await load_recording(message.file)
    if audio is not None:
        key = await session.call.play([audio], interruptible=True)
        if key is not None:
            return session.call.take_digits()[:1]
    return None


async def _forward(session: _Session, message: StoredMessage) -> None:
    target = await session.enter(("vm-forward-to",), MAX_NUMBER_DIGITS)
    if target and is_number(target) and await session.store.forward(message.id, target):
        log.info("mailbox %s: message %d forwarded to %s", session.box.number, message.id, target)
        await session.say("vm-forwarded")
    else:
        await session.say("vm-no-mailbox")


async def _call_back(session: _Session, message: StoredMessage) -> None:
    number = message.caller
    if not is_number(number):
        await session.say("vm-no-callback")
        return
    await session.say("transferring")
    log.info("mailbox %s: calling back %s", session.box.number, number)
    await session.call.transfer(number)


async def _options(session: _Session) -> None:
    while True:
        key = await session.choose(("vm-options",), "12345*")
        if key is None or key == "*":
            return
        if key == "5":
            await _change_pin(session)
            continue
        kind = _GREETING_KEYS[key]
        if kind is Greeting.TEMPORARY and Greeting.TEMPORARY in session.box.greetings:
            choice = await session.choose(("vm-temporary-on",), "12")
            if choice == "2":
                await session.store.delete_greeting(session.box.number, kind)
                await _refresh(session)
                await session.say("vm-greeting-removed")
                continue
            if choice is None:
                continue
        await _record_greeting(session, kind)


async def _record_greeting(session: _Session, kind: Greeting) -> None:
    call = session.call
    store = session.store
    while True:
        await session.say("vm-record-greeting", interruptible=True)
        call.take_digits()
        await call.play_tone(BEEP, BEEP_SECONDS)
        draft = store.new_greeting_file(session.box.number)
        result = await call.record(
            draft,
            max_seconds=session.timing.greeting_seconds,
            silence_stop=session.timing.greeting_silence,
        )
        while True:
            choice = await session.choose(("vm-review",), "123")
            if choice == "1":
                await store.save_greeting(session.box.number, kind, draft)
                await _refresh(session)
                log.info(
                    "mailbox %s: %s greeting recorded (%.1f s)",
                    session.box.number,
                    kind.value,
                    result.seconds,
                )
                await session.say("vm-greeting-saved")
                return
            if choice == "2":
                clip = await load_recording(draft)
                if clip is not None:
                    await call.play([clip], interruptible=True)
                    call.take_digits()
                continue
            store.discard(draft)
            if choice is None:
                return
            break  # 3: record it again


async def _change_pin(session: _Session) -> None:
    first = await session.enter(("vm-new-pin",), PIN_DIGITS[1])
    second = await session.enter(("vm-repeat-pin",), PIN_DIGITS[1]) if first else ""
    if first != second or not (PIN_DIGITS[0] <= len(first) <= PIN_DIGITS[1]):
        await session.say("vm-pin-unchanged")
        return
    await session.store.set_pin(session.box.number, first)
    await _refresh(session)
    log.info("mailbox %s: PIN changed by phone", session.box.number)
    await session.say("vm-pin-changed")


async def _refresh(session: _Session) -> None:
    box = await session.store.mailbox(session.box.number)
    if box is not None:
        session.box = box
