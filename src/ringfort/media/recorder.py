"""Call recording: one or two legs' audio mixed, 20 ms at a time, into a WAV on disk.

A recording follows the wall clock, not the packets: every tick of the media
engine's 20 ms ticker writes one frame per channel, from what that leg's phone
sent since the last tick, or silence when it sent nothing. Two channels thus
stay aligned however the phones' packets arrive, and a stereo file puts each
party on its own side (caller left, callee right), as Asterisk's MixMonitor
does with its ``r``/``t`` files combined.

While paused (the call on hold, the ``*1`` key) nothing is written at all: the
held part is absent from the audio, and each gap is kept in the metadata with
where in the audio it falls, when it started and ended, and why.

The WAV header is brought up to date every second, so a crash of the process
leaves a playable file of everything up to that second; the metadata file
beside it is written at the start and replaced at the end.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from ringfort.media.engine import PCMA, PCMU
from ringfort.rtp.g711 import alaw_to_linear, ulaw_to_linear
from ringfort.rtp.wav import RATE

__all__ = [
    "METADATA_FORMAT",
    "CallRecording",
    "RecordingPause",
    "RecordingSummary",
    "metadata_path",
]

log = logging.getLogger(__name__)

METADATA_FORMAT = 1
"""The version of the metadata file's layout."""

FRAME_SAMPLES = RATE // 50
"""Samples in one 20 ms frame at 8 kHz."""
_FRAME_BYTES = FRAME_SAMPLES * 2
_MAX_BACKLOG = 6 * _FRAME_BYTES
"""A channel holding more than 120 ms unwritten has run ahead of the clock (a burst
after a network stall); the oldest audio goes, so the two sides stay in step."""
_HEADER_BYTES = 44
_SYNC_FRAMES = 50
"""Frames between header updates: a crash loses at most this much (one second)."""
# RFC 3550 §5.1: the fixed header is 12 octets; a first octet of exactly 0x80 has no
# padding, extension or CSRC, so the payload starts there.
_PLAIN_HEADER = 0x80
_MIN_RTP = 12


@dataclass(frozen=True, slots=True)
class RecordingPause:
    """A stretch of the call left out of the recording."""

    at: float
    """Seconds into the recording's audio where the gap falls."""
    started: datetime
    ended: datetime | None
    """None while it lasts (or if the call ended during it: then the call's end)."""
    reason: str
    """``hold``, ``toggle``, or both joined with a comma."""

    @property
    def seconds(self) -> float:
        """How long the gap lasted (0 while it lasts)."""
        return 0.0 if self.ended is None else (self.ended - self.started).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        """The pause as the metadata file writes it."""
        return {
            "at": round(self.at, 3),
            "from": self.started.isoformat(),
            "to": None if self.ended is None else self.ended.isoformat(),
            "seconds": round(self.seconds, 3),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class RecordingSummary:
    """What a finished recording holds."""

    path: Path
    channels: int
    started: datetime
    ended: datetime
    seconds: float
    """Seconds of audio in the file (the call's length less its pauses)."""
    pauses: tuple[RecordingPause, ...]


def metadata_path(path: Path) -> Path:
    """The metadata file that goes with the recording at ``path``."""
    return path.with_suffix(".json")


@dataclass(slots=True)
class _Channel:
    pending: bytearray = field(default_factory=bytearray)


class _WavStream:
    """A 16-bit PCM WAV written as it grows, its header kept true every `_SYNC_FRAMES`."""

    def __init__(self, path: Path, channels: int) -> None:
        self._channels = channels
        self._data_bytes = 0
        self._unsynced = 0
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 - open for the call's length
        self._file.write(self._header())

    @property
    def frames(self) -> int:
        """Sample frames written (one sample per channel each)."""
        return self._data_bytes // (2 * self._channels)

    def write(self, data: bytes | bytearray) -> None:
        self._file.write(data)
        self._data_bytes += len(data)
        self._unsynced += 1
        if self._unsynced >= _SYNC_FRAMES:
            self.sync()

    def sync(self) -> None:
        """Rewrite the header for what is written, and hand it all to the OS."""
        self._unsynced = 0
        self._file.seek(0)
        self._file.write(self._header())
        self._file.seek(0, os.SEEK_END)
        self._file.flush()

    def close(self) -> None:
        try:
            self.sync()
        finally:
            self._file.close()

    def _header(self) -> bytes:
        block = 2 * self._channels
        return b"".join(
            (
                b"RIFF",
                (36 + self._data_bytes).to_bytes(4, "little"),
                b"WAVEfmt ",
                (16).to_bytes(4, "little"),
                (1).to_bytes(2, "little"),  # PCM
                self._channels.to_bytes(2, "little"),
                RATE.to_bytes(4, "little"),
                (RATE * block).to_bytes(4, "little"),
                block.to_bytes(2, "little"),
                (16).to_bytes(2, "little"),
                b"data",
                self._data_bytes.to_bytes(4, "little"),
            )
        )


class CallRecording:
    """One recording in progress: feed it each leg's RTP, tick it every 20 ms, close it.

    ``channels`` is 1 (one leg) or 2 (caller left, callee right). ``metadata``
    (uniqueid, src, dst, ...) goes into the metadata file as given, with the
    recording's own facts added. The directory is created if need be. Blocking
    file writes are small (320 octets a tick for stereo) and buffered, so they
    run on the event loop without a thread.
    """

    def __init__(
        self,
        path: Path,
        channels: int,
        *,
        wall: Callable[[], datetime],
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if channels not in (1, 2):
            raise ValueError(f"a recording has 1 or 2 channels, not {channels}")
        self.path = path
        self.channels = channels
        self._wall = wall
        self._metadata = dict(metadata or {})
        self._inputs = [_Channel() for _ in range(channels)]
        self._reasons: set[str] = set()
        self._pause_reasons: set[str] = set()
        self._pauses: list[RecordingPause] = []
        self._paused_at: datetime | None = None
        self._paused_frames = 0
        self._loud_frames = 0
        self._last_loud_frame = 0
        self.silence_threshold: int | None = None
        """Peak level (0-32767) at or below which a frame counts as silence; None: not
        measured. Set it to read `silent_seconds` (voicemail stops on silence)."""
        self.limit_frames: int | None = None
        """Sample frames after which nothing more is written (a message's maximum length)."""
        self.closed = False
        path.parent.mkdir(parents=True, exist_ok=True)
        self.started = wall()
        self._stream = _WavStream(path, channels)
        self._write_metadata(ended=None)

    # -- input ----------------------------------------------------------------------------

    def feed(self, channel: int, data: bytes) -> None:
        """One RTP packet a leg's phone sent: its G.711 audio is kept for the next tick.

        Anything else (telephone-events, comfort noise, other codecs) is not audio
        we can write and is ignored, as is everything while paused.
        """
        if self._reasons or len(data) <= _MIN_RTP:
            return
        payload_type = data[1] & 0x7F
        if payload_type != PCMU and payload_type != PCMA:
            return
        if data[0] == _PLAIN_HEADER:
            payload = data[_MIN_RTP:]
        else:
            payload = _payload_of(data)
            if not payload:
                return
        pcm = ulaw_to_linear(payload) if payload_type == PCMU else alaw_to_linear(payload)
        pending = self._inputs[channel].pending
        pending += pcm
        if len(pending) > _MAX_BACKLOG:
            del pending[: len(pending) - _MAX_BACKLOG]

    def tick(self, frames: int = 1) -> None:
        """Write ``frames`` 20 ms frames (more than one when the loop woke late)."""
        if self._reasons or self.closed:
            return
        for _ in range(frames):
            if self.limit_frames is not None and self._stream.frames >= self.limit_frames:
                return
            chunks = [self._take(channel) for channel in self._inputs]
            if self.silence_threshold is not None:
                self._measure(chunks[0])
            if self.channels == 1:
                self._stream.write(chunks[0])
            else:
                self._stream.write(_interleave(chunks[0], chunks[1]))

    def _flush(self) -> None:
        """Write the audio that arrived since the last tick: a caller who hangs up right
        after speaking (a voicemail message) keeps their last words."""
        backlog = max(len(channel.pending) for channel in self._inputs)
        if backlog:
            self.tick(-(-backlog // _FRAME_BYTES))

    def _take(self, channel: _Channel) -> bytes:
        pending = channel.pending
        if len(pending) >= _FRAME_BYTES:
            chunk = bytes(pending[:_FRAME_BYTES])
            del pending[:_FRAME_BYTES]
            return chunk
        chunk = bytes(pending) + bytes(_FRAME_BYTES - len(pending))
        pending.clear()
        return chunk

    def _measure(self, chunk: bytes) -> None:
        frame = self._stream.frames // FRAME_SAMPLES
        samples = array("h", chunk)
        if sys.byteorder == "big":
            samples.byteswap()
        threshold = self.silence_threshold or 0
        if max(samples) > threshold or -min(samples) > threshold:
            self._loud_frames += 1
            self._last_loud_frame = frame + 1

    # -- state ----------------------------------------------------------------------------

    @property
    def seconds(self) -> float:
        """Seconds of audio written so far."""
        return self._stream.frames / RATE

    @property
    def silent_seconds(self) -> float:
        """Seconds since the last frame above `silence_threshold` (all of it if none was)."""
        return (self._stream.frames // FRAME_SAMPLES - self._last_loud_frame) * 0.02

    @property
    def heard_sound(self) -> bool:
        """Whether any frame rose above `silence_threshold`."""
        return self._loud_frames > 0

    @property
    def paused(self) -> bool:
        """Whether anything is holding the recording paused."""
        return bool(self._reasons)

    def paused_for(self, reason: str) -> bool:
        """Whether ``reason`` is one of what holds the recording paused now."""
        return reason in self._reasons

    def pause(self, reason: str) -> None:
        """Stop writing for ``reason`` (``hold``, ``toggle``); pauses for several reasons nest."""
        if self.closed or reason in self._reasons:
            return
        if not self._reasons:
            self._paused_at = self._wall()
            self._pause_reasons = set()
            for channel in self._inputs:
                channel.pending.clear()
        self._reasons.add(reason)
        self._pause_reasons.add(reason)

    def resume(self, reason: str) -> None:
        """Take ``reason`` back; writing starts again once no reason is left."""
        if self.closed or reason not in self._reasons:
            return
        self._reasons.discard(reason)
        if not self._reasons:
            self._end_pause(self._wall())

    def _end_pause(self, ended: datetime) -> None:
        assert self._paused_at is not None
        self._pauses.append(
            RecordingPause(
                at=self.seconds,
                started=self._paused_at,
                ended=ended,
                reason=",".join(sorted(self._pause_reasons)),
            )
        )
        self._paused_at = None

    def close(self) -> RecordingSummary:
        """Finish the file and write the final metadata; closing twice returns the same."""
        ended = self._wall()
        if not self.closed:
            self._flush()
            self.closed = True
            if self._reasons:
                self._reasons.clear()
                self._end_pause(ended)
            try:
                self._stream.close()
            finally:
                self._write_metadata(ended=ended)
            self._summary = RecordingSummary(
                self.path, self.channels, self.started, ended, self.seconds, tuple(self._pauses)
            )
        return self._summary

    def _write_metadata(self, *, ended: datetime | None) -> None:
        document = {
            "format": METADATA_FORMAT,
            **self._metadata,
            "file": self.path.name,
            "channels": self.channels,
            "started": self.started.isoformat(),
            "ended": None if ended is None else ended.isoformat(),
            "seconds": round(self.seconds, 3),
            "pauses": [pause.as_dict() for pause in self._pauses],
        }
        if self.channels == 2:
            document.setdefault("left", "caller")
            document.setdefault("right", "callee")
        target = metadata_path(self.path)
        partial = target.with_suffix(".json.partial")
        try:
            partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
            # Replaced whole, so a reader (or a crash) never sees half a file.
            partial.replace(target)
        except OSError:
            log.exception("recording %s: its metadata could not be written", self.path)


def _payload_of(data: bytes) -> bytes:
    """The payload of an RTP packet with CSRCs, an extension or padding (RFC 3550 §5.1, §5.3.1)."""
    first = data[0]
    start = _MIN_RTP + 4 * (first & 0x0F)
    if first & 0x10:
        if len(data) < start + 4:
            return b""
        start += 4 + 4 * int.from_bytes(data[start + 2 : start + 4], "big")
    end = len(data)
    if first & 0x20:
        end -= data[-1]
    return data[start:end] if start < end else b""


def _interleave(left: bytes, right: bytes) -> bytearray:
    """Two 16-bit mono frames as one stereo frame (left, right, left, right, ...)."""
    out = bytearray(len(left) * 2)
    out[0::4] = left[0::2]
    out[1::4] = left[1::2]
    out[2::4] = right[0::2]
    out[3::4] = right[1::2]
    return out
