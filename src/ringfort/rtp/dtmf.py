"""DTMF as RTP telephone-events (RFC 4733): the payload, a once-per-digit receiver, a sender."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ringfort.errors import LocalProtocolError, RemoteProtocolError
from ringfort.rtp.packet import RtpPacket, ts_gt

__all__ = [
    "DTMF_DIGITS",
    "DigitEvent",
    "DtmfReceiver",
    "DtmfSender",
    "TelephoneEvent",
    "digit_to_event",
]

DTMF_DIGITS = "0123456789*#ABCD"
"""RFC 4733 §3.2 Table 7: events 0-15 are these DTMF digits, in this order."""

TELEPHONE_EVENT_SIZE = 4
_MAX_DURATION = 0xFFFF


def digit_to_event(digit: str) -> int:
    """The RFC 4733 event code of a DTMF digit ("0"-"9", "*", "#", "A"-"D")."""
    index = DTMF_DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if index < 0:
        raise LocalProtocolError(f"{digit!r} is not a DTMF digit")
    return index


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """The telephone-event payload (RFC 4733 §2.3), four octets.

    The R bit is reserved: sent as zero and ignored on receipt (RFC 4733 §2.3.4).
    """

    event: int
    """The event code (§2.3.1); 0-15 are DTMF digits."""
    end: bool
    """The E bit: this packet reports the end of the event (§2.3.2)."""
    volume: int
    """Power level in -dBm0, 0-63 (§2.3.5)."""
    duration: int
    """The event's duration so far, in timestamp units, 16 bits (§2.3.6)."""

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        """Parse a telephone-event payload; raise RemoteProtocolError when it is truncated.

        Octets beyond the first four are ignored: they carry nothing RFC 4733 defines.
        """
        if len(payload) < TELEPHONE_EVENT_SIZE:
            raise RemoteProtocolError(
                f"telephone-event payload truncated: {len(payload)} octets, needs 4"
            )
        return cls(
            event=payload[0],
            end=bool(payload[1] & 0x80),
            volume=payload[1] & 0x3F,
            duration=payload[2] << 8 | payload[3],
        )

    def serialize(self) -> bytes:
        """The four payload octets; raise LocalProtocolError if a field does not fit."""
        if not 0 <= self.event <= 0xFF:
            raise LocalProtocolError(f"event {self.event} is not 8 bits")
        if not 0 <= self.volume <= 0x3F:
            raise LocalProtocolError(f"volume {self.volume} is not 6 bits")
        if not 0 <= self.duration <= _MAX_DURATION:
            raise LocalProtocolError(f"duration {self.duration} is not 16 bits")
        return bytes((self.event, self.end << 7 | self.volume)) + self.duration.to_bytes(2, "big")

    def __bytes__(self) -> bytes:
        return self.serialize()


@dataclass(frozen=True, slots=True)
class DigitEvent:
    """A DTMF digit the far end sent, reported once."""

    digit: str
    """One of "0123456789*#ABCD"."""
    duration_ms: int
    """How long the digit lasted (or had lasted, when reported at its start), in ms."""
    timestamp: int
    """The RTP timestamp that names the event (RFC 4733 §2.5.1.2)."""
    volume: int
    """Power level in -dBm0."""
    ended: bool
    """True if the far end's end packet was seen; False when reported at the start, or
    when a later event or a silence closed it because every end packet was lost."""


@dataclass(slots=True)
class _OpenEvent:
    timestamp: int
    event: int
    volume: int
    duration: int
    last_seen: float
    reported: bool


class DtmfReceiver:
    """Turns telephone-event packets into one DigitEvent per digit (RFC 4733 §2.5.2).

    One event is one RTP timestamp (§2.5.1.2): continuation and the three retransmitted
    end packets repeat it, so a timestamp already reported is never reported again, and
    a lost start packet does not matter.  By default a digit is reported at its first
    end packet; with ``on_start=True`` at its first packet, for callers that must react
    at once (barge-in).  An event whose end packets were all lost is reported when a
    later event starts, or ``timeout`` seconds after its last packet (drive
    ``handle_timer`` at ``get_timer()``).
    """

    def __init__(
        self,
        *,
        payload_type: int,
        clock_rate: int = 8000,
        on_start: bool = False,
        timeout: float = 1.0,
    ) -> None:
        self._payload_type = payload_type
        self._clock_rate = clock_rate
        self._on_start = on_start
        self._timeout = timeout
        self._open: _OpenEvent | None = None
        self._newest: int | None = None
        # Late retransmissions of an event's end may arrive after the next one began.
        self._closed: deque[int] = deque(maxlen=8)

    def receive(self, packet: RtpPacket, now: float) -> list[DigitEvent]:
        """Feed one RTP packet; return the digits it completes (usually none or one).

        Packets of another payload type are ignored, so the whole stream may be fed; a
        truncated telephone-event payload raises RemoteProtocolError.
        """
        if packet.payload_type != self._payload_type:
            return []
        payload = TelephoneEvent.parse(packet.payload)
        if payload.event >= len(DTMF_DIGITS):
            return []  # flash and the other non-DTMF events are not digits
        timestamp = packet.timestamp
        if timestamp in self._closed:
            return []
        digits: list[DigitEvent] = []
        current = self._open
        if current is None or current.timestamp != timestamp:
            if self._newest is not None and not ts_gt(timestamp, self._newest):
                return []  # a reordered packet of an event already superseded
            if current is not None:
                digits.extend(self._close(current, ended=False))
            current = _OpenEvent(
                timestamp=timestamp,
                event=payload.event,
                volume=payload.volume,
                duration=payload.duration,
                last_seen=now,
                reported=False,
            )
            self._open = current
            self._newest = timestamp
        else:
            current.duration = max(current.duration, payload.duration)
            current.last_seen = now
        if self._on_start and not current.reported:
            current.reported = True
            digits.append(self._digit(current, ended=payload.end))
        if payload.end:
            current.duration = payload.duration
            digits.extend(self._close(current, ended=True))
        return digits

    def get_timer(self) -> float | None:
        """When ``handle_timer`` should next run, or None if no digit is open."""
        if self._open is None:
            return None
        return self._open.last_seen + self._timeout

    def handle_timer(self, now: float) -> list[DigitEvent]:
        """Close a digit whose end packets never came; return it if not reported yet."""
        current = self._open
        if current is None or now < current.last_seen + self._timeout:
            return []
        return self._close(current, ended=False)

    def _close(self, current: _OpenEvent, *, ended: bool) -> list[DigitEvent]:
        self._open = None
        self._closed.append(current.timestamp)
        if current.reported:
            return []
        current.reported = True
        return [self._digit(current, ended=ended)]

    def _digit(self, current: _OpenEvent, *, ended: bool) -> DigitEvent:
        return DigitEvent(
            digit=DTMF_DIGITS[current.event],
            duration_ms=current.duration * 1000 // self._clock_rate,
            timestamp=current.timestamp,
            volume=current.volume,
            ended=ended,
        )


class DtmfSender:
    """Builds the telephone-event packets for one digit (RFC 4733 §2.5.1).

    The caller sends them one ``interval_ms`` apart and continues its own sequence
    numbers after the last one; the audio stream's timestamps should not move past the
    event's start until the event is over.
    """

    END_RETRANSMISSIONS = 3
    """RFC 4733 §2.5.1.4: the final packet is sent three times."""

    def __init__(
        self,
        *,
        payload_type: int,
        ssrc: int,
        clock_rate: int = 8000,
        interval_ms: int = 20,
        volume: int = 10,
    ) -> None:
        self._payload_type = payload_type
        self._ssrc = ssrc
        self._clock_rate = clock_rate
        self._interval = clock_rate * interval_ms // 1000
        self._volume = volume

    def packets(
        self, digit: str, *, sequence_number: int, timestamp: int, duration_ms: int = 100
    ) -> list[RtpPacket]:
        """The packets for ``digit`` lasting ``duration_ms``, starting at ``timestamp``.

        All share the event's timestamp; the first carries the marker (§2.5.1.1);
        durations grow by one interval per packet (§2.5.1.2), and the end packet with
        the full duration is sent three times (§2.5.1.4).
        """
        event = digit_to_event(digit)
        total = self._clock_rate * duration_ms // 1000
        if not 0 < total <= _MAX_DURATION:
            raise LocalProtocolError(f"a {duration_ms} ms digit does not fit one event")
        durations = list(range(self._interval, total, self._interval))
        payloads = [TelephoneEvent(event, False, self._volume, d) for d in durations]
        final = TelephoneEvent(event, True, self._volume, total)
        payloads.extend([final] * self.END_RETRANSMISSIONS)
        return [
            RtpPacket(
                payload_type=self._payload_type,
                sequence_number=(sequence_number + index) & 0xFFFF,
                timestamp=timestamp & 0xFFFFFFFF,
                ssrc=self._ssrc,
                payload=payload.serialize(),
                marker=index == 0,
            )
            for index, payload in enumerate(payloads)
        ]
