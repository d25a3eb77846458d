"""The built-in MediaEngine: relays RTP and RTCP between legs (latching to NAT), plays, listens."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any

from ringfort.clock import Clock, SystemClock
from ringfort.errors import LocalProtocolError, RemoteProtocolError
from ringfort.media.engine import (
    PCMA,
    PCMU,
    AudioClip,
    LegFormat,
    LegMedia,
    LegStats,
    MediaListener,
    PlaybackDone,
)
from ringfort.media.player import (
    LegOutput,
    Playback,
    Ticker,
    ToneClips,
    check_payload_type,
    frames_for,
)
from ringfort.media.recorder import CallRecording
from ringfort.rtp.dtmf import DtmfReceiver
from ringfort.rtp.dtmf_detect import InbandDtmfDetector
from ringfort.rtp.g711 import alaw_to_linear, ulaw_to_linear
from ringfort.rtp.packet import RtpPacket
from ringfort.rtp.tones import Tone
from ringfort.transport.rtp import PortPool, RtpSocketPair

__all__ = ["RelayEngine"]

log = logging.getLogger(__name__)

# RFC 3550 §5.1: the fixed RTP header is 12 octets. §6.4.2: the smallest RTCP packet,
# an empty receiver report, is a 4-octet header and the sender's SSRC.
_MIN_RTP = 12
_MIN_RTCP = 8
# RFC 3550 §5.1 and §6.4.1: the top two bits of the first octet are the version, 2.
_VERSION_MASK = 0xC0
_VERSION_2 = 0x80
_PLAIN_HEADER = 0x80
"""A first octet of version 2 alone: no padding, extension or CSRC, so the payload is at 12."""


def _destination(address: str, port: int) -> tuple[str, int] | None:
    # RFC 3264 §8.4: an unspecified address (the old way to put a call on hold) means
    # "send nothing"; sending there would deliver to this host, possibly to ourselves.
    if _is_unspecified(address):
        return None
    return (address, port)


@functools.lru_cache(maxsize=1024)
def _is_unspecified(address: str) -> bool:
    # Kept by text: phones repeat their address in every offer, and parsing one is
    # some 40 µs of a call's set-up.
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False  # a host name: the packets themselves will show where the phone is


class _Listening:
    """An application listening to one leg: RFC 4733 events and, if asked, in-band tones."""

    __slots__ = ("_detector", "_event_payload_type", "_listener", "_receiver", "_where")

    def __init__(
        self, listener: MediaListener, event_payload_type: int | None, *, inband: bool, where: str
    ) -> None:
        self._listener = listener
        self._where = where
        self._event_payload_type = -1
        self._receiver: DtmfReceiver | None = None
        self.use_events(event_payload_type)
        self._detector = InbandDtmfDetector() if inband else None

    def use_events(self, event_payload_type: int | None) -> None:
        """Read telephone-events of ``event_payload_type`` (None: the phone sends none)."""
        if event_payload_type == self._event_payload_type:
            return
        if event_payload_type is None:
            self._event_payload_type = -1
            self._receiver = None
        else:
            self._event_payload_type = event_payload_type
            # Reported as the key goes down, so a prompt stops at once; one report
            # per event however many of its packets (three ends) arrive.
            self._receiver = DtmfReceiver(payload_type=event_payload_type, on_start=True)

    def inspect(self, data: bytes, now: float) -> None:
        """Look at one RTP packet the phone sent; report the digits it starts."""
        payload_type = data[1] & 0x7F
        receiver = self._receiver
        if receiver is not None and payload_type == self._event_payload_type:
            try:
                digits = receiver.receive(RtpPacket.parse(data), now)
            except RemoteProtocolError:
                return
            # A phone that sends events may leave the tones in its audio as well; the
            # events are the reliable copy, and each key would otherwise count twice.
            self._detector = None
            for digit in digits:
                self._report(digit.digit, "rfc4733")
            return
        detector = self._detector
        if detector is None or (payload_type != PCMU and payload_type != PCMA):
            return
        if data[0] == _PLAIN_HEADER:
            payload = data[_MIN_RTP:]
        else:
            try:
                payload = RtpPacket.parse(data).payload
            except RemoteProtocolError:
                return
        pcm = ulaw_to_linear(payload) if payload_type == PCMU else alaw_to_linear(payload)
        for key in detector.feed(pcm):
            self._report(key, "inband")

    def _report(self, digit: str, source: str) -> None:
        try:
            self._listener.on_digit(digit, source)
        except Exception:
            # The application's fault must not stop the media, least of all the relay.
            log.exception("leg %s: the DTMF listener failed on %r", self._where, digit)


class _RelayLeg:
    """One leg's sockets, where its phone is, which leg it feeds, and its counters."""

    __slots__ = (
        "_clock",
        "bytes_relayed",
        "connected_at",
        "last_packet_at",
        "latched",
        "listening",
        "media",
        "output",
        "packets_dropped",
        "packets_relayed",
        "peer",
        "playing",
        "recording",
        "remote_rtcp",
        "remote_rtp",
        "rtcp_locked",
        "rtcp_packets_relayed",
        "rtp_locked",
        "sockets",
    )

    # Both set by RelayEngine.allocate_leg straight after the ports are bound.
    sockets: RtpSocketPair
    media: LegMedia

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.peer: _RelayLeg | None = None
        self.remote_rtp: tuple[Any, ...] | None = None
        self.remote_rtcp: tuple[Any, ...] | None = None
        # Locked once the first packet has fixed the source; later packets from
        # elsewhere are dropped so a stray sender cannot take the stream over.
        self.rtp_locked = False
        self.rtcp_locked = False
        self.latched = False
        self.last_packet_at: float | None = None
        self.connected_at: float | None = None
        self.packets_relayed = 0
        self.bytes_relayed = 0
        self.rtcp_packets_relayed = 0
        self.packets_dropped = 0
        self.output = LegOutput()
        self.playing = False
        """Whether our own stream (a playback, digits) has this leg's phone: the
        connected leg's packets to it are dropped meanwhile."""
        self.listening: _Listening | None = None
        self.recording: tuple[CallRecording, int] | None = None
        """The recording this leg's phone's audio goes to, and on which channel."""

    def rtp_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        """Hot path: check the header's size and version, latch, send out of the peer leg.

        Playing, listening and recording cost an attribute check each here.
        """
        if len(data) < _MIN_RTP or data[0] & _VERSION_MASK != _VERSION_2:
            self.packets_dropped += 1
            return
        if not self.rtp_locked:
            # RFC 4961 symmetric RTP: a phone behind NAT sends from the address it
            # can be reached at, whatever its SDP said.
            self.rtp_locked = True
            if addr != self.remote_rtp:
                self.remote_rtp = addr
                self.latched = True
        elif addr != self.remote_rtp:
            self.packets_dropped += 1
            return
        now = self.last_packet_at = self._clock()
        if self.listening is not None:
            self.listening.inspect(data, now)
        if self.recording is not None:
            self.recording[0].feed(self.recording[1], data)
        peer = self.peer
        if peer is None or peer.playing or peer.remote_rtp is None:
            self.packets_dropped += 1
            return
        peer.sockets.send_rtp(data, peer.remote_rtp)
        self.packets_relayed += 1
        self.bytes_relayed += len(data)

    def rtcp_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        """As `rtp_received`, for the RTCP port."""
        if len(data) < _MIN_RTCP or data[0] & _VERSION_MASK != _VERSION_2:
            self.packets_dropped += 1
            return
        if not self.rtcp_locked:
            self.rtcp_locked = True
            self.remote_rtcp = addr
        elif addr != self.remote_rtcp:
            self.packets_dropped += 1
            return
        peer = self.peer
        if peer is None or peer.remote_rtcp is None:
            self.packets_dropped += 1
            return
        peer.sockets.send_rtcp(data, peer.remote_rtcp)
        self.rtcp_packets_relayed += 1


def _report_done(on_done: PlaybackDone, completed: bool) -> None:
    try:
        on_done(completed)
    except Exception:
        log.exception("a playback's completion callback failed")


class RelayEngine:
    """Anchors each leg's media on a local RTP/RTCP port pair and relays between paired legs.

    Packets are checked for size and RTP version only, then sent on unchanged.
    Each leg latches to the source of its first RTP (and, separately, RTCP)
    packet, and drops packets from any other source until `set_remote` is given
    a new SDP address.

    A leg can also be played to from a stream of our own, paced with every other
    playing leg by one 20 ms ticker, and listened to for DTMF. Callbacks
    (``on_done``, a listener's ``on_digit``) run from the event loop, never from
    inside a call to the engine, and their exceptions are logged.
    """

    def __init__(
        self,
        *,
        host: str,
        port_low: int,
        port_high: int,
        rtp_timeout: float,
        keep_open: int = 0,
        max_open_pairs: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._host = host
        self._rtp_timeout = rtp_timeout
        self._monotonic = (clock or SystemClock()).monotonic
        self._pool = PortPool(
            port_low,
            port_high,
            keep_open=keep_open,
            max_open=max_open_pairs,
            clock=self._monotonic,
        )
        self._legs: dict[str, _RelayLeg] = {}
        self._relayed_by_released = 0
        """RTP packets relayed by legs released since: with the live legs', the total."""
        self._leg_numbers = itertools.count(1)
        self._playing: dict[str, _RelayLeg] = {}
        self._recordings: dict[CallRecording, tuple[_RelayLeg, ...]] = {}
        self._tones = ToneClips()
        self._ticker = Ticker(self._tick, lambda: bool(self._playing or self._recordings))

    @property
    def port_pool(self) -> PortPool:
        """The pool the legs' ports come from."""
        return self._pool

    @property
    def leg_count(self) -> int:
        """How many legs are allocated and not yet released."""
        return len(self._legs)

    @property
    def playing_count(self) -> int:
        """How many legs our own stream is sending to now."""
        return len(self._playing)

    @property
    def recording_count(self) -> int:
        """How many recordings are being written now."""
        return len(self._recordings)

    @property
    def packets_relayed(self) -> int:
        """RTP packets relayed since the engine started (for metrics).

        Summed from the legs' own counters when asked, so relaying a packet costs
        nothing more than it did.
        """
        live = sum(leg.packets_relayed for leg in self._legs.values())
        return self._relayed_by_released + live

    async def allocate_leg(self, call_id: str) -> LegMedia:
        """Bind an RTP/RTCP port pair for a new leg of ``call_id``; PortsExhaustedError if none."""
        leg = _RelayLeg(self._monotonic)
        leg.sockets = await self._pool.allocate(
            self._host, on_rtp=leg.rtp_received, on_rtcp=leg.rtcp_received
        )
        media = LegMedia(
            leg_id=f"{call_id}#{next(self._leg_numbers)}",
            call_id=call_id,
            address=self._host,
            rtp_port=leg.sockets.rtp_port,
            rtcp_port=leg.sockets.rtcp_port,
        )
        leg.media = media
        self._legs[media.leg_id] = leg
        return media

    def set_remote(
        self, leg: LegMedia, address: str, port: int, rtcp_port: int | None = None
    ) -> None:
        """Take the phone's SDP address; the next packets may latch it afresh (a re-INVITE)."""
        relay_leg = self._get(leg)
        # RFC 3605: an a=rtcp attribute names the RTCP port; RFC 3550 §11 otherwise.
        relay_leg.remote_rtp = _destination(address, port)
        relay_leg.remote_rtcp = _destination(address, port + 1 if rtcp_port is None else rtcp_port)
        relay_leg.rtp_locked = False
        relay_leg.rtcp_locked = False
        relay_leg.latched = False

    def connect(self, leg_a: LegMedia, leg_b: LegMedia) -> None:
        """Relay between the two legs, unpairing either from any leg it fed before."""
        a, b = self._get(leg_a), self._get(leg_b)
        if a is b:
            raise LocalProtocolError(f"cannot connect leg {leg_a.leg_id} to itself")
        for leg in (a, b):
            if leg.peer is not None:
                leg.peer.peer = None
        a.peer, b.peer = b, a
        a.connected_at = b.connected_at = self._monotonic()

    def disconnect(self, leg: LegMedia) -> None:
        """Stop relaying between the leg and its peer, both ways; nothing if not connected."""
        relay_leg = self._get(leg)
        if relay_leg.peer is not None:
            relay_leg.peer.peer = None
            relay_leg.peer = None

    async def release(self, leg: LegMedia) -> None:
        """Close the leg's sockets and free its ports; releasing a released leg does nothing.

        A playback still running ends with ``on_done(False)``; the listener is dropped.
        """
        relay_leg = self._legs.pop(leg.leg_id, None)
        if relay_leg is None:
            return
        self._relayed_by_released += relay_leg.packets_relayed
        relay_leg.listening = None
        if relay_leg.recording is not None:
            # The other channel may go on (silence on this one); a recording left
            # without legs stops being ticked, though its owner still closes it.
            self._detach(relay_leg)
        self._quiet(relay_leg)
        self._ended(relay_leg.output.clear(), completed=False)
        if relay_leg.peer is not None:
            relay_leg.peer.peer = None
            relay_leg.peer = None
        relay_leg.sockets.close()
        await relay_leg.sockets.wait_closed()

    def set_format(self, leg: LegMedia, media_format: LegFormat) -> None:
        """What we send the leg's phone (PCMU or PCMA) and its RFC 4733 payload type.

        A leg with a format terminates media here, so from now on `idle_legs` watches
        it as it watches connected legs.
        """
        check_payload_type(media_format.payload_type)
        relay_leg = self._get(leg)
        relay_leg.output.set_format(media_format.payload_type, media_format.event_payload_type)
        if relay_leg.listening is not None:
            relay_leg.listening.use_events(media_format.event_payload_type)
        if relay_leg.connected_at is None:
            relay_leg.connected_at = self._monotonic()

    def play(
        self,
        leg: LegMedia,
        clips: Sequence[AudioClip],
        *,
        loop: bool = False,
        on_done: PlaybackDone | None = None,
    ) -> None:
        """Play ``clips`` to the leg's phone from our own RTP stream, replacing what plays.

        The clips follow one another without a gap; the last frame is padded with
        silence. With ``loop`` they play until stopped or replaced.
        """
        relay_leg = self._get(leg)
        playback = Playback(clips, relay_leg.output.payload_type, loop=loop, on_done=on_done)
        self._start(relay_leg, playback)

    def play_tone(
        self, leg: LegMedia, tone: Tone, seconds: float | None, on_done: PlaybackDone | None = None
    ) -> None:
        """Play ``tone`` for ``seconds`` (rounded up to 20 ms), or until stopped if None."""
        relay_leg = self._get(leg)
        frames = None if seconds is None else frames_for(seconds)
        playback = Playback(
            [self._tones.tone(tone)],
            relay_leg.output.payload_type,
            loop=True,
            frames=frames,
            on_done=on_done,
        )
        self._start(relay_leg, playback)

    def stop_playing(self, leg: LegMedia) -> None:
        """Stop the leg's playback (its ``on_done`` gets False); nothing if none or released.

        The connected leg is heard again at once, unless digits are still being sent.
        """
        relay_leg = self._legs.get(leg.leg_id)
        if relay_leg is None:
            return
        self._ended(relay_leg.output.stop(), completed=False)
        if not relay_leg.output.active:
            self._quiet(relay_leg)

    def send_digits(self, leg: LegMedia, digits: str) -> None:
        """Send DTMF to the leg's phone: RFC 4733 events if negotiated, else in-band tones.

        Each digit lasts 100 ms. Digits queue behind digits still being sent, and a
        playback pauses while they go (its timestamps move on past them). A digit
        outside 0-9, *, #, A-D raises LocalProtocolError and nothing is sent.
        """
        relay_leg = self._get(leg)
        relay_leg.output.queue_digits(digits, self._tones)
        if relay_leg.output.active:
            self._loud(relay_leg)

    def set_listener(
        self, leg: LegMedia, listener: MediaListener | None, *, inband: bool = False
    ) -> None:
        """Report the DTMF the leg's phone sends to ``listener``; None stops listening.

        RFC 4733 events of the leg's `LegFormat` event type always; with ``inband``,
        DTMF tones in its PCMU/PCMA audio too, until the phone is seen to send events
        (then its tones would double every key). Each key is reported once, as it goes
        down. Relaying is unchanged, so a bridged call's DTMF is both relayed and seen.
        """
        relay_leg = self._get(leg)
        if listener is None:
            relay_leg.listening = None
            return
        relay_leg.listening = _Listening(
            listener, relay_leg.output.event_payload_type, inband=inband, where=leg.leg_id
        )

    def start_recording(self, recording: CallRecording, legs: Sequence[LegMedia]) -> None:
        """Feed each leg's received audio to ``recording`` (leg i on channel i); tick it.

        A leg already feeding another recording moves to this one.
        """
        relay_legs = tuple(self._get(leg) for leg in legs)
        if len(relay_legs) != recording.channels:
            raise LocalProtocolError(
                f"a recording of {recording.channels} channels needs as many legs, not {len(legs)}"
            )
        self.stop_recording(recording)
        for channel, relay_leg in enumerate(relay_legs):
            if relay_leg.recording is not None:
                self._detach(relay_leg)
            relay_leg.recording = (recording, channel)
        self._recordings[recording] = relay_legs
        self._ticker.ensure_running()

    def stop_recording(self, recording: CallRecording) -> None:
        """Stop feeding and ticking ``recording``; nothing if it is not running."""
        for relay_leg in self._recordings.pop(recording, ()):
            if relay_leg.recording is not None and relay_leg.recording[0] is recording:
                relay_leg.recording = None

    def _detach(self, relay_leg: _RelayLeg) -> None:
        assert relay_leg.recording is not None
        other = relay_leg.recording[0]
        relay_leg.recording = None
        if not any(leg.recording is not None for leg in self._recordings.get(other, ())):
            self._recordings.pop(other, None)

    def stats(self, leg: LegMedia) -> LegStats:
        """The leg's counters now."""
        relay_leg = self._get(leg)
        return LegStats(
            packets_relayed=relay_leg.packets_relayed,
            bytes_relayed=relay_leg.bytes_relayed,
            rtcp_packets_relayed=relay_leg.rtcp_packets_relayed,
            packets_dropped=relay_leg.packets_dropped,
            last_packet_at=relay_leg.last_packet_at,
            latched=relay_leg.latched,
            packets_played=relay_leg.output.packets_played,
            packets_unsent=relay_leg.output.packets_unsent,
        )

    def idle_legs(self, now: float) -> list[LegMedia]:
        """Legs with no RTP for ``rtp_timeout`` seconds (or since expecting it) at ``now``.

        A leg expects media once connected or given a `LegFormat`. Legs before that
        are never idle: before answer no media is due, and how long a call may ring
        is the call core's decision.
        """
        idle: list[LegMedia] = []
        for relay_leg in self._legs.values():
            connected_at = relay_leg.connected_at
            if connected_at is None:
                continue
            last = relay_leg.last_packet_at
            since = connected_at if last is None else max(last, connected_at)
            if now - since >= self._rtp_timeout:
                idle.append(relay_leg.media)
        return idle

    async def close(self) -> None:
        """Release every leg and stop every recording (their owners close the files)."""
        legs = [relay_leg.media for relay_leg in self._legs.values()]
        await asyncio.gather(*(self.release(leg) for leg in legs))
        for recording in list(self._recordings):
            self.stop_recording(recording)
        self._ticker.stop()
        await self._pool.close()

    def _get(self, leg: LegMedia) -> _RelayLeg:
        try:
            return self._legs[leg.leg_id]
        except KeyError:
            raise LocalProtocolError(f"media leg {leg.leg_id} is not allocated here") from None

    # -- our own stream ---------------------------------------------------------------------------

    def _start(self, relay_leg: _RelayLeg, playback: Playback) -> None:
        self._ended(relay_leg.output.start(playback), completed=False)
        self._loud(relay_leg)

    def _loud(self, relay_leg: _RelayLeg) -> None:
        """Our stream has the leg's phone: pace it, and drop the connected leg's packets."""
        if not relay_leg.playing:
            relay_leg.playing = True
            self._playing[relay_leg.media.leg_id] = relay_leg
            self._ticker.ensure_running()

    def _quiet(self, relay_leg: _RelayLeg) -> None:
        """Our stream has nothing more to send the leg's phone; relaying to it resumes."""
        if relay_leg.playing:
            relay_leg.playing = False
            del self._playing[relay_leg.media.leg_id]

    def _ended(self, playback: Playback | None, *, completed: bool) -> None:
        """Report a playback's end to its ``on_done``, once, from the loop."""
        if playback is None or playback.on_done is None:
            return
        on_done, playback.on_done = playback.on_done, None
        # Deferred so the callback never runs inside play() or stop_playing(), where
        # starting another playback would re-enter the engine mid-change.
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called from outside the loop, with nothing to re-enter
            _report_done(on_done, completed)
        else:
            loop.call_soon(_report_done, on_done, completed)

    def _tick(self, now: float, due: int) -> None:
        """Send every playing leg the frames due now (one, or a few after a late wake-up),
        and write as many to every recording."""
        for recording in tuple(self._recordings):
            try:
                recording.tick(due)
            except Exception:
                # A full disk ends this recording, not the call or the others.
                log.exception("recording %s failed; it stops here", recording.path)
                self.stop_recording(recording)
        finished: list[_RelayLeg] = []
        for relay_leg in tuple(self._playing.values()):
            output = relay_leg.output
            try:
                for _ in range(due):
                    packet = output.next_packet(now)
                    if packet is None:
                        break
                    remote = relay_leg.remote_rtp
                    if remote is None:
                        output.packets_unsent += 1
                    else:
                        relay_leg.sockets.send_rtp(packet, remote)
                        output.packets_played += 1
            except Exception:
                # One leg's trouble (a socket gone bad) must not silence the others.
                log.exception("leg %s: playing failed", relay_leg.media.leg_id)
                self._ended(output.clear(), completed=False)
            if output.completed is not None:
                completed, output.completed = output.completed, None
                self._ended(completed, completed=True)
            if not output.active:
                finished.append(relay_leg)
        for relay_leg in finished:
            self._quiet(relay_leg)
