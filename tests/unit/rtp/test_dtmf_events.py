"""RFC 4733 telephone-events: the payload, the once-per-digit receiver, the sender."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringfort.errors import LocalProtocolError, RemoteProtocolError
from ringfort.rtp.dtmf import (
    DigitEvent,
    DtmfReceiver,
    DtmfSender,
    TelephoneEvent,
    digit_to_event,
)
from ringfort.rtp.packet import RtpPacket

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "rtp"
PT = 101


def load(name: str) -> bytes:
    """A vector's octets: hex digits, with `#` comments and whitespace ignored."""
    text = (VECTORS / f"{name}.hex").read_text()
    return bytes.fromhex("".join(line.partition("#")[0] for line in text.splitlines()))


def event_packet(
    *, seq: int, ts: int, event: int = 5, end: bool = False, duration: int = 160
) -> RtpPacket:
    payload = TelephoneEvent(event, end, 10, duration).serialize()
    return RtpPacket(payload_type=PT, sequence_number=seq, timestamp=ts, ssrc=1, payload=payload)


def digit_stream(digit_event: int, *, seq: int, ts: int) -> list[RtpPacket]:
    """A 100 ms digit: 4 updates then 3 end packets (RFC 4733 §2.5.1)."""
    packets = [
        event_packet(seq=seq + i, ts=ts, event=digit_event, duration=160 * (i + 1))
        for i in range(4)
    ]
    packets += [
        event_packet(seq=seq + 4 + i, ts=ts, event=digit_event, end=True, duration=800)
        for i in range(3)
    ]
    packets[0].marker = True
    return packets


def feed(receiver: DtmfReceiver, packets: list[RtpPacket], start: float = 0.0) -> list[DigitEvent]:
    digits: list[DigitEvent] = []
    for index, packet in enumerate(packets):
        digits += receiver.receive(packet, start + 0.02 * index)
    return digits


def test_telephone_event_vector_parses_and_round_trips() -> None:
    data = load("telephone_event_end")
    packet = RtpPacket.parse(data)
    event = TelephoneEvent.parse(packet.payload)
    assert event == TelephoneEvent(event=5, end=True, volume=10, duration=800)
    assert event.serialize() == data[12:]
    assert bytes(packet) == data


def test_telephone_event_layout_is_event_e_r_volume_duration() -> None:
    # RFC 4733 §2.3: event(8) E(1) R(1) volume(6) duration(16).
    assert TelephoneEvent(11, False, 63, 0xFFFF).serialize() == b"\x0b\x3f\xff\xff"
    assert TelephoneEvent(0, True, 0, 1).serialize() == b"\x00\x80\x00\x01"


def test_reserved_bit_is_ignored_on_receipt() -> None:
    # RFC 4733 §2.3.4: the R bit is reserved; receivers ignore it.
    assert TelephoneEvent.parse(b"\x05\xca\x03\x20") == TelephoneEvent(5, True, 10, 800)


def test_truncated_telephone_event_is_a_remote_error() -> None:
    with pytest.raises(RemoteProtocolError):
        TelephoneEvent.parse(b"\x05\x8a\x03")


@pytest.mark.parametrize(
    "event",
    [
        TelephoneEvent(256, False, 0, 0),
        TelephoneEvent(1, False, 64, 0),
        TelephoneEvent(1, False, 0, 1 << 16),
    ],
)
def test_serialize_refuses_fields_that_do_not_fit(event: TelephoneEvent) -> None:
    with pytest.raises(LocalProtocolError):
        event.serialize()


def test_digits_map_to_rfc4733_event_codes() -> None:
    assert [digit_to_event(d) for d in "0123456789*#ABCD"] == list(range(16))
    assert digit_to_event("a") == 12
    for bad in ("E", "", "12"):
        with pytest.raises(LocalProtocolError):
            digit_to_event(bad)


def test_a_digit_is_reported_once_at_its_first_end_packet() -> None:
    receiver = DtmfReceiver(payload_type=PT)
    packets = digit_stream(5, seq=1, ts=1000)
    results = [receiver.receive(packet, 0.02 * i) for i, packet in enumerate(packets)]
    assert results[:4] == [[], [], [], []]
    assert results[4] == [
        DigitEvent(digit="5", duration_ms=100, timestamp=1000, volume=10, ended=True)
    ]
    assert results[5:] == [[], []]  # the retransmitted end packets add nothing


def test_a_lost_start_packet_does_not_lose_the_digit() -> None:
    receiver = DtmfReceiver(payload_type=PT)
    digits = feed(receiver, digit_stream(1, seq=1, ts=1000)[2:])
    assert [(d.digit, d.duration_ms) for d in digits] == [("1", 100)]


def test_only_end_packets_still_give_the_digit_once() -> None:
    receiver = DtmfReceiver(payload_type=PT)
    digits = feed(receiver, digit_stream(9, seq=1, ts=1000)[4:])
    assert [d.digit for d in digits] == ["9"]


def test_the_same_digit_twice_is_two_events_because_timestamps_differ() -> None:
    receiver = DtmfReceiver(payload_type=PT)
    stream = digit_stream(7, seq=1, ts=1000) + digit_stream(7, seq=8, ts=2600)
    digits = feed(receiver, stream)
    assert [(d.digit, d.timestamp) for d in digits] == [("7", 1000), ("7", 2600)]


def test_a_digit_whose_end_packets_were_all_lost_is_closed_by_the_next_digit() -> None:
    receiver = DtmfReceiver(payload_type=PT)
    stream = digit_stream(2, seq=1, ts=1000)[:4] + digit_stream(3, seq=5, ts=2600)
    digits = feed(receiver, stream)
    assert [(d.digit, d.ended, d.duration_ms) for d in digits] == [
        ("2", False, 80),
        ("3", True, 100),
    ]


def test_a_digit_whose_end_packets_were_all_lost_is_closed_by_the_timer() -> None:
    receiver = DtmfReceiver(payload_type=PT, timeout=1.0)
    assert receiver.get_timer() is None
    assert feed(receiver, digit_stream(4, seq=1, ts=1000)[:3]) == []
    assert receiver.get_timer() == pytest.approx(1.04)
    assert receiver.handle_timer(1.0) == []
    assert [d.digit for d in receiver.handle_timer(1.04)] == ["4"]
    assert receiver.get_timer() is None
    # A late end packet of the closed event is not a second digit.
    assert receiver.receive(event_packet(seq=9, ts=1000, event=4, end=True), 1.5) == []


def test_late_end_packets_of_an_earlier_event_are_ignored() -> None:
    receiver = DtmfReceiver(payload_type=PT)
    first = digit_stream(1, seq=1, ts=1000)
    second = digit_stream(2, seq=8, ts=2600)
    # The first event's retransmissions arrive after the second began.
    stream = first[:5] + second[:2] + first[5:] + second[2:]
    assert [d.digit for d in feed(receiver, stream)] == ["1", "2"]


def test_a_reordered_packet_from_an_older_unseen_event_is_ignored() -> None:
    receiver = DtmfReceiver(payload_type=PT)
    feed(receiver, digit_stream(1, seq=10, ts=5000))
    assert receiver.receive(event_packet(seq=3, ts=4000, event=8, end=True), 1.0) == []


def test_timestamps_wrapping_still_start_new_events() -> None:
    receiver = DtmfReceiver(payload_type=PT)
    stream = digit_stream(1, seq=1, ts=0xFFFFFF00) + digit_stream(2, seq=8, ts=0x100)
    assert [d.digit for d in feed(receiver, stream)] == ["1", "2"]


def test_on_start_mode_reports_at_the_first_packet_and_never_again() -> None:
    receiver = DtmfReceiver(payload_type=PT, on_start=True)
    packets = digit_stream(0, seq=1, ts=1000)
    first = receiver.receive(packets[0], 0.0)
    assert first == [DigitEvent(digit="0", duration_ms=20, timestamp=1000, volume=10, ended=False)]
    assert feed(receiver, packets[1:], start=0.02) == []


def test_other_payload_types_and_non_dtmf_events_are_ignored() -> None:
    receiver = DtmfReceiver(payload_type=PT)
    audio = RtpPacket(payload_type=0, sequence_number=1, timestamp=0, ssrc=1, payload=b"\xff" * 160)
    assert receiver.receive(audio, 0.0) == []
    flash = event_packet(seq=2, ts=160, event=16, end=True)  # RFC 4733 §3.2: hook flash
    assert receiver.receive(flash, 0.0) == []


def test_sender_builds_the_rfc4733_packet_sequence_for_one_digit() -> None:
    sender = DtmfSender(payload_type=PT, ssrc=0xCAFE, volume=10)
    packets = sender.packets("5", sequence_number=40, timestamp=8000, duration_ms=100)
    assert [p.sequence_number for p in packets] == list(range(40, 47))
    assert {p.timestamp for p in packets} == {8000}
    assert [p.marker for p in packets] == [True] + [False] * 6
    events = [TelephoneEvent.parse(p.payload) for p in packets]
    assert [(e.end, e.duration) for e in events] == [
        (False, 160),
        (False, 320),
        (False, 480),
        (False, 640),
        (True, 800),
        (True, 800),
        (True, 800),
    ]
    # The third end packet is byte for byte the vector (RFC 4733 §2.3 layout), but for
    # its sequence number: 46 here, 42 in the vector.
    vector = load("telephone_event_end")
    assert bytes(packets[-1]) == vector[:2] + (46).to_bytes(2, "big") + vector[4:]


def test_sender_wraps_sequence_numbers() -> None:
    sender = DtmfSender(payload_type=PT, ssrc=1)
    packets = sender.packets("#", sequence_number=0xFFFE, timestamp=0, duration_ms=40)
    assert [p.sequence_number for p in packets] == [0xFFFE, 0xFFFF, 0, 1]


def test_sender_output_fed_to_a_receiver_gives_the_digits_back() -> None:
    sender = DtmfSender(payload_type=PT, ssrc=1)
    receiver = DtmfReceiver(payload_type=PT)
    digits: list[DigitEvent] = []
    seq, ts = 100, 0
    for digit in "159#D":
        packets = sender.packets(digit, sequence_number=seq, timestamp=ts, duration_ms=120)
        digits += feed(receiver, packets)
        seq += len(packets)
        ts += 1600
    assert [(d.digit, d.duration_ms) for d in digits] == [(d, 120) for d in "159#D"]


def test_sender_refuses_a_bad_digit_or_duration() -> None:
    sender = DtmfSender(payload_type=PT, ssrc=1)
    with pytest.raises(LocalProtocolError):
        sender.packets("X", sequence_number=0, timestamp=0)
    with pytest.raises(LocalProtocolError):
        sender.packets("1", sequence_number=0, timestamp=0, duration_ms=0)
    with pytest.raises(LocalProtocolError):
        sender.packets("1", sequence_number=0, timestamp=0, duration_ms=9000)
