"""The MediaEngine interface: what the call core asks of whatever anchors a call's media."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ringfort.rtp.tones import Tone

if TYPE_CHECKING:
    from ringfort.media.recorder import CallRecording

__all__ = [
    "PCMA",
    "PCMU",
    "AudioClip",
    "LegFormat",
    "LegMedia",
    "LegStats",
    "MediaEngine",
    "MediaListener",
    "PlaybackDone",
]

PCMU = 0
"""RFC 3551 §6: the static payload type of G.711 µ-law."""
PCMA = 8
"""RFC 3551 §6: the static payload type of G.711 A-law."""


class AudioClip(Protocol):
    """Audio ready to send: the same sound in both G.711 laws, 8 kHz, one octet a sample.

    The engine only reads these three attributes, so prompts, tones and recordings
    can be loaded however their owner likes.
    """

    @property
    def ulaw(self) -> bytes:
        """The sound in µ-law (sent as PCMU)."""
        ...

    @property
    def alaw(self) -> bytes:
        """The sound in A-law (sent as PCMA); as many octets as ``ulaw``."""
        ...

    @property
    def duration(self) -> float:
        """Seconds of sound."""
        ...


@dataclass(frozen=True, slots=True)
class LegFormat:
    """What was agreed with a phone whose media we terminate: what we send, what we read."""

    payload_type: int
    """`PCMU` (0) or `PCMA` (8): the audio we send the phone and expect from it."""
    event_payload_type: int | None = None
    """The RFC 4733 telephone-event payload type, if negotiated."""


class MediaListener(Protocol):
    """Told what a leg's phone sends that an application cares about."""

    def on_digit(self, digit: str, source: str) -> None:
        """A DTMF key ("0"-"9", "*", "#", "A"-"D"); ``source`` is ``rfc4733`` or ``inband``.

        Called from the event loop as the key goes down, once per press.
        """
        ...


PlaybackDone = Callable[[bool], None]
"""Called once, from the event loop, when a playback ends: True if it played to the end,
False if it was stopped, replaced by another, or its leg was released."""


@dataclass(frozen=True, slots=True)
class LegMedia:
    """The media end the PBX offers one call leg: what goes into the SDP it sends that leg."""

    leg_id: str
    """Unique within the engine; the handle every other engine call takes."""
    call_id: str
    """The call the leg belongs to, as given to `MediaEngine.allocate_leg`."""
    address: str
    """The local address RTP is received on (the SDP c= line)."""
    rtp_port: int
    """The local RTP port (the SDP m= line); even."""
    rtcp_port: int
    """The local RTCP port; RFC 3550 §11 puts it at ``rtp_port + 1``."""


@dataclass(frozen=True, slots=True)
class LegStats:
    """Counters of one leg's media, as they stood when asked."""

    packets_relayed: int
    """RTP packets received on this leg and sent on to the connected leg."""
    bytes_relayed: int
    """Octets of those RTP packets (UDP payload)."""
    rtcp_packets_relayed: int
    """RTCP packets received on this leg and sent on to the connected leg."""
    packets_dropped: int
    """RTP and RTCP datagrams thrown away: malformed, from a foreign source, nowhere to go,
    or sent by the connected leg while this leg's own playback had the phone's ear."""
    last_packet_at: float | None
    """Monotonic time of the last RTP packet accepted, or None if none came yet."""
    latched: bool
    """Whether the remote RTP address was learnt from the packets themselves (symmetric RTP)."""
    packets_played: int = 0
    """RTP packets of our own stream (played audio, sent digits) sent to the leg's phone."""
    packets_unsent: int = 0
    """Packets of our own stream skipped because the phone's address was not known yet."""


class MediaEngine(Protocol):
    """Anchors call media: the built-in relay now, an external engine (rtpengine) later.

    A leg is allocated before its SDP is written, learns its peer's address from
    the SDP it receives, and is connected to the leg its media goes to. A leg whose
    media we terminate (an application's caller) gets a `LegFormat` and may be
    played to, listened to and sent digits, connected or not.
    Misusing a handle (an unknown or released leg) raises LocalProtocolError.
    """

    async def allocate_leg(self, call_id: str) -> LegMedia:
        """Reserve local media ports for a new leg of ``call_id``."""
        ...

    def set_remote(
        self, leg: LegMedia, address: str, port: int, rtcp_port: int | None = None
    ) -> None:
        """Where the leg's phone receives RTP, from its SDP; RTCP defaults to ``port + 1``."""
        ...

    def connect(self, leg_a: LegMedia, leg_b: LegMedia) -> None:
        """Send what arrives on each leg out of the other, replacing any earlier pairing."""
        ...

    def disconnect(self, leg: LegMedia) -> None:
        """Stop relaying between the leg and its peer, both ways; nothing if not connected."""
        ...

    async def release(self, leg: LegMedia) -> None:
        """Stop the leg's media and give its ports back; safe after socket errors.

        A playback still running ends with ``on_done(False)``; the listener is dropped.
        """
        ...

    def set_format(self, leg: LegMedia, media_format: LegFormat) -> None:
        """The payload types agreed with the leg's phone, for playing, digits and listening.

        Until it is called a leg plays PCMU and knows no telephone-event type.
        """
        ...

    def play(
        self,
        leg: LegMedia,
        clips: Sequence[AudioClip],
        *,
        loop: bool = False,
        on_done: PlaybackDone | None = None,
    ) -> None:
        """Play ``clips`` in order (over and over with ``loop``) to the leg's phone.

        Replaces anything playing on the leg (whose ``on_done`` gets False). While a
        leg plays, what its connected peer sends it is dropped.
        """
        ...

    def play_tone(
        self, leg: LegMedia, tone: Tone, seconds: float | None, on_done: PlaybackDone | None = None
    ) -> None:
        """Play a tone (ringback, busy, a beep) for ``seconds``, or until stopped if None."""
        ...

    def stop_playing(self, leg: LegMedia) -> None:
        """Stop the leg's playback (its ``on_done`` gets False); nothing if none or released."""
        ...

    def send_digits(self, leg: LegMedia, digits: str) -> None:
        """Send DTMF to the leg's phone: RFC 4733 events if negotiated, else in-band tones.

        Digits queue behind digits still being sent; a playback pauses while they go.
        """
        ...

    def set_listener(
        self, leg: LegMedia, listener: MediaListener | None, *, inband: bool = False
    ) -> None:
        """Report the DTMF the leg's phone sends to ``listener`` (None stops it).

        RFC 4733 events always; audio tones too with ``inband``. Works whether or not
        the leg is connected, and relaying goes on unchanged.
        """
        ...

    def start_recording(self, recording: CallRecording, legs: Sequence[LegMedia]) -> None:
        """Feed what each of ``legs`` receives from its phone to ``recording`` (the first leg
        on channel 0, the second on channel 1), and tick it every 20 ms.

        A leg feeds one recording at a time; the owner pauses and closes the recording,
        after `stop_recording`.
        """
        ...

    def stop_recording(self, recording: CallRecording) -> None:
        """Stop feeding and ticking ``recording``; nothing if it is not running."""
        ...

    def stats(self, leg: LegMedia) -> LegStats:
        """The leg's counters now."""
        ...

    def idle_legs(self, now: float) -> list[LegMedia]:
        """Legs expecting media whose RTP has been silent past the RTP timeout at ``now``."""
        ...

    async def close(self) -> None:
        """Release every leg; the engine is not used afterwards."""
        ...
