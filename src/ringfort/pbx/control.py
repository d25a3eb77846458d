"""The call-control interface: what an application (IVR, queue, voicemail) does with a call it owns.

An application is handed a `CallControl` for the caller's leg of a call that
was routed to it. Everything it does is a coroutine that returns when the
action is over, and raises `CallGoneError` as soon as the caller hangs up, so an
application is written as straight-line code::

    await call.answer()
    digit = await call.play(greeting, interruptible=True)
    digits = await call.collect_digits(4, timeout=5.0)
    result = await call.bridge("101")

Digits arrive from every source the leg has (RFC 4733 events, SIP INFO, in-band
tones when enabled) into one buffer, in order; `play(interruptible=True)` stops
at the first digit and leaves it in the buffer for `collect_digits`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar

from ringfort.disposition import Disposition, HangupBy
from ringfort.errors import RingfortError
from ringfort.media.engine import AudioClip, MediaEngine
from ringfort.media.recorder import CallRecording
from ringfort.pbx.call import Call
from ringfort.pbx.destination import Destination
from ringfort.pbx.ports import MusicSource
from ringfort.rtp.tones import Tone
from ringfort.rtp.wav import RATE

__all__ = [
    "AppLauncher",
    "BridgeOptions",
    "BridgeResult",
    "CallControl",
    "CallGoneError",
    "ControlDriver",
    "RecordResult",
    "Transfer",
    "TransferRequested",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

SILENCE_LEVEL = 600
"""Peak sample level (of 32767) at or below which a frame counts as silence when recording:
about -35 dBFS, above a quiet line's hiss and below the softest speech."""
_RECORD_POLL = 0.1
"""Seconds between checks of a recording's length and silence."""


class CallGoneError(RingfortError):
    """The call ended (the caller hung up, or it was torn down) while an application acted on it."""


class TransferRequested(RingfortError):  # noqa: N818 - a request carried up, not a failure
    """Raised by `CallControl.transfer`: the application hands its caller to ``number``.

    The launcher catches it and treats ``number`` as if the caller had dialled it;
    an application lets it pass (its ``finally`` blocks still run).
    """

    def __init__(self, number: str) -> None:
        super().__init__(f"transfer to {number}")
        self.number = number


@dataclass(frozen=True, slots=True)
class BridgeResult:
    """How connecting the caller to a number went."""

    answered: bool
    """True when the number answered and the two are talking."""
    status: int
    """200 when answered; otherwise the failure (486 busy, 480 no answer or not reachable, ...)."""
    disposition: Disposition
    cause: str
    number: str | None = None
    """The number that answered (one of those rung)."""
    uniqueid: str | None = None
    """The bridge's own call id (its CDR row's ``uniqueid``), once it was tried."""
    direct: bool = False
    """Answered by a caller not answered before (put through before answer): the call is
    one between two phones from now on, which the application has no more part in."""


@dataclass(frozen=True, slots=True)
class Transfer:
    """How the bridged party handed the caller on (a SIP REFER from their phone)."""

    number: str
    """Blind: the number the caller goes to now. Attended: the number they now talk to."""
    attended: bool = False
    """True when the bridged party talked to the target first and joined the caller to
    them (the caller is bridged to the target already); False for a blind transfer (the
    caller is the application's again, to be sent to ``number``)."""
    uniqueid: str | None = None
    """Attended: the call id (CDR ``uniqueid``) of the caller's conversation with the target."""


@dataclass(frozen=True, slots=True)
class BridgeOptions:
    """How `CallControl.bridge` rings."""

    ring_timeout: float | None = None
    """Seconds to ring before giving up; None: the system's ring timeout."""
    ringback: bool = True
    """Play ringback to the caller while ringing; False keeps what plays (a queue's music)."""
    record: bool = False
    """Record the conversation whatever the recording rules say (a queue that records all)."""


@dataclass(frozen=True, slots=True)
class RecordResult:
    """What `CallControl.record` captured and why it stopped."""

    path: Path
    seconds: float
    """Seconds of audio in the file."""
    ended_by: str
    """``key``, ``silence``, ``max`` or ``hangup``."""
    key: str | None
    """The stop key pressed, when ``ended_by`` is ``key``."""
    heard_sound: bool
    """Whether anything louder than silence was recorded (with ``silence_stop`` only)."""


class ControlDriver(Protocol):
    """What `CallControl` asks of the call core (the B2BUA) that owns the call's signalling."""

    def answer_call(self, call: Call) -> None:
        """Answer the caller with our own media (200 OK with our SDP)."""
        ...

    def bridge_call(
        self, call: Call, numbers: Sequence[str], options: BridgeOptions
    ) -> asyncio.Future[BridgeResult]:
        """Ring ``numbers`` at once and connect the caller to the first that answers."""
        ...

    def hang_up_call(
        self, call: Call, cause: str, status: int, disposition: Disposition = Disposition.FAILED
    ) -> None:
        """End the call: BYE when answered, ``status`` to the caller when not (its record
        then says ``disposition``)."""
        ...

    def join_calls(self, call: Call, other: Call) -> asyncio.Future[BridgeResult]:
        """Connect the callers of two answered calls owned by applications."""
        ...


class CallControl:
    """An application's handle on the caller's leg of a call routed to it."""

    def __init__(
        self,
        call: Call,
        driver: ControlDriver,
        media: MediaEngine,
        *,
        music: MusicSource | None = None,
    ) -> None:
        self._call = call
        self._driver = driver
        self._media = media
        self._music = music
        # Identifies the music playback under way, so that stop_music never stops a
        # prompt that replaced it.
        self._music_playing: object | None = None
        loop = asyncio.get_running_loop()
        self._gone: asyncio.Future[None] = loop.create_future()
        self._digits: deque[str] = deque()
        self._digit_waiters: list[asyncio.Future[None]] = []
        self._ended_by: HangupBy | None = None
        self._transfer: asyncio.Future[Transfer] = loop.create_future()
        self._watching_bridge = 0
        self.bridged = False
        """Set once the caller is connected to another party; the application is done then."""
        self.bridged_to: str | None = None
        """The number of the party the caller was last connected to (by `bridge`)."""

    # -- who is calling ---------------------------------------------------------------------------

    @property
    def uniqueid(self) -> str:
        """The call's id (the CDR ``uniqueid``)."""
        return self._call.uniqueid

    @property
    def caller(self) -> str:
        """The caller's number."""
        return self._call.src

    @property
    def clid(self) -> str:
        """The caller ID, ``"Name" <number>``."""
        return self._call.clid

    @property
    def dialled(self) -> str:
        """The number the caller dialled to reach the application."""
        return self._call.dst

    @property
    def answered(self) -> bool:
        """Whether the call has been answered."""
        return self._call.answer is not None

    @property
    def gone(self) -> bool:
        """Whether the call is over."""
        return self._gone.done()

    @property
    def ended_by(self) -> HangupBy | None:
        """Once the call is over: who ended it (the caller, the bridged party, or the system)."""
        return self._ended_by

    # -- actions ----------------------------------------------------------------------------------

    async def answer(self) -> None:
        """Answer the call; does nothing if it is answered already."""
        self._check()
        if self._call.answer is None:
            self._driver.answer_call(self._call)

    async def play(self, clips: Sequence[AudioClip], *, interruptible: bool = False) -> str | None:
        """Play ``clips`` in order to the caller; return the digit that cut it short, if any.

        With ``interruptible``, a digit already waiting in the buffer skips the playback,
        and one pressed during it stops it; the digit stays in the buffer.
        """
        self._check()
        if not clips:
            return None
        if interruptible and self._digits:
            return self._digits[0]
        leg = self._call.caller.media
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def finished(completed: bool) -> None:
            if not done.done():
                done.set_result(completed)

        self._media.play(leg, clips, on_done=finished)
        try:
            if not interruptible:
                await self._until(done)
                return None
            while not done.done():
                digit = self._wait_digit()
                await self._until(asyncio.wait((done, digit), return_when=asyncio.FIRST_COMPLETED))
                if self._digits:
                    return self._digits[0]
            return None
        finally:
            if not done.done():
                self._stop_playing()

    async def play_tone(self, tone: Tone, seconds: float) -> None:
        """Play a tone (a beep, ringback, busy) for ``seconds``."""
        self._check()
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._media.play_tone(
            self._call.caller.media,
            tone,
            seconds,
            on_done=lambda completed: None if done.done() else done.set_result(completed),
        )
        try:
            await self._until(done)
        finally:
            if not done.done():
                self._stop_playing()

    async def start_music(self) -> None:
        """Start the music on hold, over and over, and return at once.

        It plays until `stop_music`, any other playback (`play`, `play_tone`, `bridge`,
        `record`) or the end of the call; if it is playing already it carries on. With no
        music source, or no music in it, the caller hears silence: nothing is played, and
        that is not an error. The first call may wait while the music is read from disk.
        """
        self._check()
        if self._music_playing is not None or self._music is None:
            return
        clips = await self._until(self._music.clips())
        if not clips or self._music_playing is not None:
            return
        token = self._music_playing = object()

        def finished(completed: bool) -> None:
            if self._music_playing is token:
                self._music_playing = None

        try:
            self._media.play(self._call.caller.media, clips, loop=True, on_done=finished)
        except RingfortError:
            self._music_playing = None
            raise CallGoneError(f"call {self._call.uniqueid} is over") from None

    def stop_music(self) -> None:
        """Stop the music on hold; nothing if it is not playing or something replaced it."""
        if self._music_playing is not None:
            self._music_playing = None
            self._stop_playing()

    async def send_digits(self, digits: str) -> None:
        """Send DTMF to the caller (RFC 4733 events if its phone takes them, else tones).

        Returns once queued; each digit lasts 100 ms, and a playback pauses while they go.
        """
        self._check()
        self._media.send_digits(self._call.caller.media, digits)

    async def collect_digits(
        self,
        max_digits: int,
        timeout: float,  # noqa: ASYNC109 (a digit timeout, not the call's)
        *,
        interdigit_timeout: float | None = None,
        terminator: str = "#",
    ) -> str:
        """Take up to ``max_digits`` digits from the buffer, waiting for more as needed.

        Waits ``timeout`` seconds for the first digit and ``interdigit_timeout`` (default
        ``timeout``) for each next one; stops early at ``terminator`` (not returned).
        Returns what was entered, possibly "" (no input).
        """
        self._check()
        collected = ""
        wait = timeout
        while len(collected) < max_digits:
            if not self._digits:
                waiter = self._wait_digit()
                try:
                    await self._until(asyncio.wait_for(asyncio.shield(waiter), wait))
                except TimeoutError:
                    break
                finally:
                    waiter.cancel()
                if not self._digits:
                    continue
            digit = self._digits.popleft()
            if terminator and digit in terminator:
                break
            collected += digit
            wait = timeout if interdigit_timeout is None else interdigit_timeout
        return collected

    def take_digits(self) -> str:
        """Empty the digit buffer and return what was in it."""
        digits = "".join(self._digits)
        self._digits.clear()
        return digits

    async def bridge(
        self,
        number: str | Sequence[str] | CallControl,
        *,
        ring_timeout: float | None = None,
        ringback: bool = True,
        record: bool = False,
    ) -> BridgeResult:
        """Ring extension ``number`` (or several at once) and connect the caller when one answers;
        or, given another application's `CallControl`, connect the two callers.

        Two callers (both calls answered) are connected at once: what each hears
        stops, their keys go to each other rather than to the applications, and both
        are `bridged`. When either hangs up, the other call ends too. It fails (not
        ``answered``, the calls unchanged) if the other call is over (480), not answered
        (409), or already connected to someone (491), or if the callers' phones share no
        codec (488). The ring options do not apply.

        Before the call is answered, this is an ordinary call from the caller to
        ``number`` (its ringing, answer or failure reach the caller, and a failure ends
        the call); once answered it is a call between the two phones, as if dialled
        straight (transfers, parking), and the result says so (``direct``): the
        application is done with it. After answering, the caller hears ringback while
        the number rings, and a failure returns here with the call still up, for the
        application to carry on (say "not available", go back to a menu, take a
        message). With
        ``ringback=False`` the caller goes on hearing what plays (music) while it rings;
        ``record`` records the conversation whatever the recording rules say.
        """
        self._check()
        if isinstance(number, CallControl):
            return await self._join(number)
        numbers = (number,) if isinstance(number, str) else tuple(number)
        if not numbers:
            raise ValueError("bridge needs at least one number")
        if ringback:
            self._stop_playing()
        options = BridgeOptions(ring_timeout, ringback, record)
        result = await self._until(self._driver.bridge_call(self._call, numbers, options))
        if result.answered:
            self.bridged = True
            self.bridged_to = result.number
        return result

    async def _join(self, other: CallControl) -> BridgeResult:
        result = await self._until(self._driver.join_calls(self._call, other._call))
        if result.answered:
            self.bridged = other.bridged = True
            self.bridged_to, other.bridged_to = other.caller, self.caller
        return result

    async def record(
        self,
        path: Path,
        *,
        max_seconds: float,
        silence_stop: float | None = None,
        stop_keys: str = "#",
        metadata: Mapping[str, Any] | None = None,
    ) -> RecordResult:
        """Record what the caller says into ``path`` (a mono WAV) until something stops it.

        Stops at one of ``stop_keys`` (consumed from the buffer), after ``silence_stop``
        seconds without sound, after ``max_seconds``, or when the caller hangs up: a
        hang-up does not raise here, since what was said is kept (a voicemail message
        ends that way more often than not). ``metadata`` goes into the file's metadata.
        """
        self._check()
        self._stop_playing()
        self._drop_keys_before(stop_keys)
        recording = CallRecording(path, 1, wall=lambda: datetime.now(UTC), metadata=metadata)
        recording.limit_frames = round(max_seconds * RATE)
        if silence_stop is not None:
            recording.silence_threshold = SILENCE_LEVEL
        try:
            self._media.start_recording(recording, [self._call.caller.media])
        except RingfortError:
            recording.close()
            raise CallGoneError(f"call {self._call.uniqueid} is over") from None
        loop = asyncio.get_running_loop()
        # The audio clock decides; the wall clock is the backstop if ticks stall.
        deadline = loop.time() + max_seconds + 1.0
        ended_by, key = "max", None
        try:
            while True:
                if self.gone:
                    ended_by = "hangup"
                    break
                if self._digits:
                    key = self._digits.popleft()
                    if key in stop_keys:
                        ended_by = "key"
                        break
                    key = None
                    continue
                if recording.seconds >= max_seconds or loop.time() >= deadline:
                    break
                if (
                    silence_stop is not None
                    and recording.seconds >= silence_stop
                    and recording.silent_seconds >= silence_stop
                ):
                    ended_by = "silence"
                    break
                waiter = self._wait_digit()
                try:
                    await asyncio.wait(
                        (waiter, self._gone),
                        timeout=_RECORD_POLL,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    waiter.cancel()
        finally:
            self._media.stop_recording(recording)
            summary = recording.close()
        return RecordResult(path, summary.seconds, ended_by, key, recording.heard_sound)

    def _drop_keys_before(self, stop_keys: str) -> None:
        """Keys pressed before the recording began would stop it at once: they go."""
        if any(digit in stop_keys for digit in self._digits):
            self._digits.clear()

    async def transfer(self, number: str) -> NoReturn:
        """Blind transfer: the caller goes on to ``number`` as if they had dialled it, and
        the application is done (this raises `TransferRequested`; let it pass).

        An extension rings as with `bridge` (a failure is announced and ends the call);
        a menu or a time condition takes the call over.
        """
        self._check()
        self._stop_playing()
        raise TransferRequested(number)

    async def hangup(
        self,
        cause: str = "normal",
        *,
        status: int = 480,
        disposition: Disposition = Disposition.FAILED,
    ) -> None:
        """End the call (``status`` is what an unanswered caller is told, ``disposition``
        what its record says then)."""
        if not self.gone:
            self._driver.hang_up_call(self._call, cause, status, disposition)

    async def wait_gone(self) -> None:
        """Return when the call is over."""
        await asyncio.shield(self._gone)

    async def wait_bridge_end(self) -> Transfer | None:
        """After a `bridge` that was answered: wait for the conversation to end.

        Returns the bridged party's transfer of the caller (a SIP REFER from their
        phone), or None when the call is over. After a blind transfer the caller is back
        with the application, which takes them on to ``number`` (usually with
        `transfer`); after an attended one the caller talks to the target, still bridged,
        and a next `wait_bridge_end` follows that conversation.
        """
        self._watching_bridge += 1
        try:
            await asyncio.wait((self._transfer, self._gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._watching_bridge -= 1
        if self._transfer.done():
            transfer = self._transfer.result()
            self._transfer = asyncio.get_running_loop().create_future()
            return transfer
        return None

    # -- fed by the call core and the media engine ------------------------------------------------

    def on_digit(self, digit: str, source: str) -> None:
        """A digit from the caller (RFC 4733, SIP INFO or in-band)."""
        log.debug("call %s: digit %s (%s)", self._call.uniqueid, digit, source)
        self._digits.append(digit)
        waiters, self._digit_waiters = self._digit_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    @property
    def takes_transfers(self) -> bool:
        """Whether the application is waiting in `wait_bridge_end`, so a transfer by the
        bridged party has somewhere to go."""
        return self._watching_bridge > 0 and not self._transfer.done()

    def transferred(self, transfer: Transfer) -> None:
        """The bridged party transferred the caller: blind (they left, and the caller is the
        application's again) or attended (the caller is bridged to the target now)."""
        self.bridged = transfer.attended
        if not self._transfer.done():
            self._transfer.set_result(transfer)

    def ended(self, by: HangupBy = HangupBy.SYSTEM) -> None:
        """The call is over (ended ``by``): every pending action raises `CallGoneError`."""
        if self._ended_by is None:
            self._ended_by = by
        if not self._gone.done():
            self._gone.set_result(None)
        for waiter in self._digit_waiters:
            waiter.cancel()
        self._digit_waiters.clear()

    # -- internals --------------------------------------------------------------------------------

    def _check(self) -> None:
        if self._gone.done():
            raise CallGoneError(f"call {self._call.uniqueid} is over")

    def _wait_digit(self) -> asyncio.Future[None]:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._digit_waiters.append(waiter)
        return waiter

    async def _until(self, work: Awaitable[T]) -> T:
        """``await work``, but raise `CallGoneError` as soon as the call ends."""
        task = asyncio.ensure_future(work)
        try:
            await asyncio.wait((task, self._gone), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not task.done():
            task.cancel()
            raise CallGoneError(f"call {self._call.uniqueid} is over")
        return task.result()

    def _stop_playing(self) -> None:
        if not self.gone:
            # The leg may have been released as the call ended.
            with contextlib.suppress(RingfortError):
                self._media.stop_playing(self._call.caller.media)


class AppLauncher(Protocol):
    """Runs the application a destination names (a menu, a time condition) on a call."""

    async def run(self, call: CallControl, destination: Destination | None) -> None:
        """Drive ``call`` until the application is done with it (or the call is over); with
        no ``destination``, the caller is bridged already: follow its transfers."""
        ...
