"""Playing into a call leg: our own RTP stream to a phone, what it plays, and the shared ticker."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import struct
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ringfort.errors import LocalProtocolError
from ringfort.media.engine import PCMA, PCMU, AudioClip, PlaybackDone
from ringfort.rtp.dtmf import DtmfSender, digit_to_event
from ringfort.rtp.g711 import linear_to_alaw, linear_to_ulaw
from ringfort.rtp.tones import Tone, ToneGenerator, dtmf_tone

__all__ = [
    "FRAME_SAMPLES",
    "FRAME_SECONDS",
    "LegOutput",
    "Playback",
    "Ticker",
    "ToneClip",
    "ToneClips",
    "check_payload_type",
    "frames_for",
]

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160
"""20 ms of G.711 at 8 kHz, one octet a sample: the payload of every audio packet we send."""
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE

# RFC 3550 §5.1: V=2 with no padding, extension or CSRC; marker and payload type;
# sequence number; timestamp; SSRC.
_HEADER = struct.Struct("!BBHII")
_VERSION_2 = 0x80
_MARKER = 0x80
# G.711 codes nearest zero: µ-law 0xFF, A-law 0xD5 (its even bits inverted on the line).
_SILENCE = {PCMU: 0xFF, PCMA: 0xD5}

_MAX_CATCH_UP = 3
"""Frames sent at once when the loop ran late: enough to keep the phone's jitter buffer fed
through a short stall, few enough not to flood it after a long one."""

DIGIT_MS = 100
"""How long each digit we send lasts, as an RFC 4733 event or as a tone."""
_INBAND_PAUSE_MS = 60
"""Silence after each in-band digit; ITU-T Q.24 receivers must part digits 40 ms apart."""

# Steps of a digit being sent: one packet each, one a tick.
_AUDIO = 0
_EVENT_START = 1
_EVENT = 2


def check_payload_type(payload_type: int) -> None:
    """Refuse a voice payload type the engine cannot play (it sends G.711 only)."""
    if payload_type not in _SILENCE:
        raise LocalProtocolError(
            f"payload type {payload_type} is neither PCMU (0) nor PCMA (8); only G.711 is played"
        )


def frames_for(seconds: float) -> int:
    """Whole 20 ms frames covering ``seconds`` (at least one)."""
    return max(1, math.ceil(round(seconds / FRAME_SECONDS, 6)))


@dataclass(frozen=True, slots=True)
class ToneClip:
    """A generated tone in both G.711 laws (an `AudioClip`)."""

    ulaw: bytes
    alaw: bytes
    duration: float


def _clip_of(pcm: bytes) -> ToneClip:
    return ToneClip(linear_to_ulaw(pcm), linear_to_alaw(pcm), len(pcm) / 2 / SAMPLE_RATE)


def _synthesise(frequencies: tuple[float, ...], samples: int) -> bytes:
    """``samples`` of a steady tone as 16-bit little-endian PCM."""
    generator = ToneGenerator(Tone(frequencies))
    frames = -(-samples // generator.frame_samples)
    return b"".join(generator.next_frame() for _ in range(frames))[: 2 * samples]


class ToneClips:
    """Tones made once and kept: call-progress tones, and the keys of in-band DTMF."""

    def __init__(self) -> None:
        self._tones: dict[Tone, ToneClip] = {}
        self._keys: dict[str, ToneClip] = {}

    def tone(self, tone: Tone) -> ToneClip:
        """One whole cadence cycle of ``tone``, for looping; one second of a steady tone.

        Only the sounding parts are synthesised; the pauses are written as silence. A
        second holds whole periods of any whole-hertz tone, so a steady tone loops
        without a click.
        """
        clip = self._tones.get(tone)
        if clip is None:
            if tone.cadence:
                pcm = b"".join(
                    _synthesise(tone.frequencies, SAMPLE_RATE * on // 1000)
                    + bytes(2 * (SAMPLE_RATE * off // 1000))
                    for on, off in tone.cadence
                )
            else:
                pcm = _synthesise(tone.frequencies, SAMPLE_RATE)
            clip = self._tones[tone] = _clip_of(pcm)
        return clip

    def key(self, digit: str) -> ToneClip:
        """A DTMF key (ITU-T Q.23) sounding `DIGIT_MS`, then a pause."""
        clip = self._keys.get(digit)
        if clip is None:
            tone = dtmf_tone(digit)
            pcm = _synthesise(tone.frequencies, SAMPLE_RATE * DIGIT_MS // 1000) + bytes(
                2 * SAMPLE_RATE * _INBAND_PAUSE_MS // 1000
            )
            clip = self._keys[digit] = _clip_of(pcm)
        return clip


class Playback:
    """What one leg plays: clips in order, or over and over, optionally cut at a frame count.

    Frames are slices of the clips' own octets in the law being sent; a frame that
    straddles two clips is joined, and the very last one is padded with silence.
    """

    __slots__ = (
        "_clips",
        "_data",
        "_datas",
        "_ended",
        "_frames_left",
        "_index",
        "_loop",
        "_offset",
        "_silence",
        "on_done",
    )

    def __init__(
        self,
        clips: Sequence[AudioClip],
        payload_type: int,
        *,
        loop: bool = False,
        frames: int | None = None,
        on_done: PlaybackDone | None = None,
    ) -> None:
        # Empty clips are dropped here so that looping always moves forward.
        self._clips = [clip for clip in clips if clip.ulaw and clip.alaw]
        self._loop = loop
        self._frames_left = frames
        self._index = 0
        self._offset = 0
        self._ended = False
        self.on_done = on_done
        """Called when the playback ends; the engine clears it once it has been called."""
        self._datas: list[bytes] = []
        self._data = b""
        self._silence = b""
        self.use(payload_type)

    def use(self, payload_type: int) -> None:
        """Send in the law of ``payload_type`` from now on (both laws are one octet a sample)."""
        if payload_type == PCMA:
            self._datas = [clip.alaw for clip in self._clips]
        else:
            self._datas = [clip.ulaw for clip in self._clips]
        if not self._ended and self._index < len(self._datas):
            self._data = self._datas[self._index]
        self._silence = bytes((_SILENCE.get(payload_type, _SILENCE[PCMU]),)) * FRAME_SAMPLES

    def next_frame(self) -> bytes | None:
        """The next 160 octets, or None once the playback is over."""
        left = self._frames_left
        if left is not None:
            if left <= 0:
                return None
            self._frames_left = left - 1
        offset = self._offset
        end = offset + FRAME_SAMPLES
        data = self._data
        if end <= len(data):
            self._offset = end
            return data[offset:end]
        return self._frame_across_clips()

    def _frame_across_clips(self) -> bytes | None:
        if self._ended:
            return None
        frame = self._data[self._offset :]
        while len(frame) < FRAME_SAMPLES:
            self._index += 1
            if self._index >= len(self._datas):
                if not (self._loop and self._datas):
                    self._ended = True
                    self._data = b""
                    self._offset = 0
                    return frame + self._silence[len(frame) :] if frame else None
                self._index = 0
            data = self._datas[self._index]
            take = FRAME_SAMPLES - len(frame)
            frame += data[:take]
            self._data = data
            self._offset = min(take, len(data))
        return frame


class LegOutput:
    """Our own RTP stream to one phone: its header state, its playback and digits to send.

    One random SSRC for the leg's life (RFC 3550 §8.1); sequence numbers and timestamps
    carry on from one playback to the next, the timestamp moving on by the time nothing
    was sent, and the first packet after a pause carries the marker (RFC 3551 §4.1).
    Digits go before the playback, which waits meanwhile.
    """

    __slots__ = (
        "_event_timestamp",
        "_last_sent",
        "_marker",
        "_quiet",
        "_sequence",
        "_steps",
        "_timestamp",
        "completed",
        "event_payload_type",
        "packets_played",
        "packets_unsent",
        "payload_type",
        "playback",
        "ssrc",
    )

    def __init__(self) -> None:
        # RFC 3550 §5.1: the first sequence number and timestamp are random.
        self.ssrc = random.getrandbits(32)
        self._sequence = random.getrandbits(16)
        self._timestamp = random.getrandbits(32)
        self._marker = True
        self._quiet = True
        self._last_sent: float | None = None
        self._event_timestamp = 0
        self._steps: deque[tuple[int, bytes, int]] = deque()
        self.payload_type = PCMU
        self.event_payload_type: int | None = None
        self.playback: Playback | None = None
        self.completed: Playback | None = None
        """A playback that has just played to its end, for the engine to report."""
        self.packets_played = 0
        self.packets_unsent = 0

    @property
    def active(self) -> bool:
        """Whether there is anything to send."""
        return self.playback is not None or bool(self._steps)

    def set_format(self, payload_type: int, event_payload_type: int | None) -> None:
        """Send audio as ``payload_type`` and digits as ``event_payload_type`` events."""
        self.payload_type = payload_type
        self.event_payload_type = event_payload_type
        if self.playback is not None:
            self.playback.use(payload_type)

    def start(self, playback: Playback) -> Playback | None:
        """Play ``playback`` from the next frame on; return the playback it replaces."""
        self._quiet = self._quiet or not self.active
        replaced = self.stop()
        self.playback = playback
        self._marker = True
        return replaced

    def stop(self) -> Playback | None:
        """Stop the playback (digits being sent go on); return it."""
        playback, self.playback = self.playback, None
        return playback

    def clear(self) -> Playback | None:
        """Stop everything, digits too; return the playback that was going."""
        self._steps.clear()
        return self.stop()

    def queue_digits(self, digits: str, keys: ToneClips) -> None:
        """Send ``digits`` after any still queued: RFC 4733 events if negotiated, else tones."""
        for digit in digits:
            digit_to_event(digit)  # all or nothing: refuse a bad digit before queueing any
        if not digits:
            return
        self._quiet = self._quiet or not self.active
        event = self.event_payload_type
        steps = self._steps
        if event is not None:
            sender = DtmfSender(payload_type=event, ssrc=self.ssrc)
            for digit in digits:
                # Sequence numbers and timestamps are set as each packet goes out.
                packets = sender.packets(
                    digit, sequence_number=0, timestamp=0, duration_ms=DIGIT_MS
                )
                for index, packet in enumerate(packets):
                    steps.append((event, packet.payload, _EVENT_START if index == 0 else _EVENT))
            return
        audio = self.payload_type
        for digit in digits:
            clip = keys.key(digit)
            data = clip.alaw if audio == PCMA else clip.ulaw
            for offset in range(0, len(data), FRAME_SAMPLES):
                steps.append((audio, data[offset : offset + FRAME_SAMPLES], _AUDIO))

    def next_packet(self, now: float) -> bytes | None:
        """The packet due at ``now`` (loop time), or None when there is nothing more to send.

        When the playback has just ended, it is left in `completed`.
        """
        if self._quiet:
            self._wake(now)
        if self._steps:
            return self._digit_packet(now)
        playback = self.playback
        if playback is None:
            return None
        frame = playback.next_frame()
        if frame is None:
            self.playback = None
            self.completed = playback
            return None
        second = self.payload_type
        if self._marker:
            second |= _MARKER
            self._marker = False
        packet = _HEADER.pack(_VERSION_2, second, self._sequence, self._timestamp, self.ssrc)
        self._sequence = (self._sequence + 1) & 0xFFFF
        self._timestamp = (self._timestamp + FRAME_SAMPLES) & 0xFFFFFFFF
        self._last_sent = now
        return packet + frame

    def _wake(self, now: float) -> None:
        """The first packet after a pause: the timestamp counts the pause (RFC 3550 §5.1)."""
        self._quiet = False
        self._marker = True
        last = self._last_sent
        if last is not None:
            # The timestamp already stands one frame past the last packet sent.
            gap = round((now - last) * SAMPLE_RATE) - FRAME_SAMPLES
            if gap > 0:
                self._timestamp = (self._timestamp + gap) & 0xFFFFFFFF

    def _digit_packet(self, now: float) -> bytes:
        payload_type, payload, kind = self._steps.popleft()
        if kind == _AUDIO:
            timestamp = self._timestamp
            second = payload_type | _MARKER if self._marker else payload_type
            self._marker = False
        else:
            # RFC 4733 §2.5.1.2: every packet of an event carries the timestamp of its
            # start, and the first one the marker (§2.5.1.1).
            if kind == _EVENT_START:
                self._event_timestamp = self._timestamp
            timestamp = self._event_timestamp
            second = payload_type | _MARKER if kind == _EVENT_START else payload_type
        packet = _HEADER.pack(_VERSION_2, second, self._sequence, timestamp, self.ssrc)
        self._sequence = (self._sequence + 1) & 0xFFFF
        # Media time runs on through an event, so audio after it starts past its end.
        self._timestamp = (self._timestamp + FRAME_SAMPLES) & 0xFFFFFFFF
        self._last_sent = now
        if not self._steps:
            self._marker = True  # the playback, if any, resumes as a new talkspurt
        return packet + payload


class Ticker:
    """Calls ``tick(now, due)`` every 20 ms on an absolute schedule while ``wanted()`` holds.

    One ticker paces every playing leg: a timer per leg would cost a loop wake-up
    each. ``due`` is how many frames each leg should send now: more than one when
    the loop ran late, up to a small cap, beyond which the schedule starts afresh.
    """

    def __init__(self, tick: Callable[[float, int], None], wanted: Callable[[], bool]) -> None:
        self._tick = tick
        self._wanted = wanted
        self._handle: asyncio.TimerHandle | None = None
        self._next = 0.0

    @property
    def running(self) -> bool:
        """Whether a tick is scheduled."""
        return self._handle is not None

    def ensure_running(self) -> None:
        """Tick now and every 20 ms from now, unless ticking already."""
        if self._handle is not None:
            return
        loop = asyncio.get_running_loop()
        self._next = loop.time()
        self._handle = loop.call_at(self._next, self._run)

    def stop(self) -> None:
        """Stop ticking."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _run(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = 1
        self._next += FRAME_SECONDS
        while self._next <= now and due < _MAX_CATCH_UP:
            self._next += FRAME_SECONDS
            due += 1
        if self._next <= now:
            self._next = now + FRAME_SECONDS  # too far behind: skip rather than burst
        try:
            self._tick(now, due)
        except Exception:
            log.exception("the media ticker failed")
        if self._wanted():
            self._handle = loop.call_at(self._next, self._run)
        else:
            self._handle = None
