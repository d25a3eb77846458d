"""RelayEngine as an application's media end, over real UDP on 127.0.0.1: play, tones, DTMF."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
import socket
import time
import wave
from array import array
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ringfort.errors import LocalProtocolError
from ringfort.media.engine import LegFormat, LegMedia
from ringfort.media.recorder import CallRecording
from ringfort.media.relay import RelayEngine
from ringfort.rtp.dtmf import DtmfReceiver, DtmfSender, TelephoneEvent
from ringfort.rtp.dtmf_detect import InbandDtmfDetector
from ringfort.rtp.g711 import linear_to_ulaw, ulaw_to_linear
from ringfort.rtp.packet import RtpPacket, seq_diff, ts_diff
from ringfort.rtp.tones import BUSY_NORTH_AMERICA, ToneGenerator, dtmf_tone

HOST = "127.0.0.1"
WAIT = 2.0
RANGE_SIZE = 40
FRAME = 160
PCMU, PCMA, EVENTS = 0, 8, 101


@dataclass(frozen=True)
class Clip:
    """A clip as the prompt library makes them: the same sound in both laws."""

    ulaw: bytes
    alaw: bytes
    duration: float


def make_clip(seconds: float, seed: int) -> Clip:
    """Recognisable octets (never silence codes), different per law, ``seconds`` long."""
    rng = random.Random(seed)
    size = round(seconds * 8000)
    ulaw = bytes(rng.randrange(0x10, 0xF0) for _ in range(size))
    alaw = bytes(rng.randrange(0x10, 0xC0) for _ in range(size))
    return Clip(ulaw, alaw, seconds)


def padded(data: bytes, silence: int) -> bytes:
    """``data`` padded with the silence code to whole 20 ms frames."""
    return data + bytes((silence,)) * (-len(data) % FRAME)


@dataclass
class Arrival:
    packet: RtpPacket
    at: float
    source: tuple[str, int]


class Phone:
    """A plain UDP socket standing in for a phone's media port."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]

    def send(self, data: bytes, port: int) -> None:
        self.sock.sendto(data, (HOST, port))

    async def receive(self, within: float = WAIT) -> Arrival:
        loop = asyncio.get_running_loop()
        data, source = await asyncio.wait_for(loop.sock_recvfrom(self.sock, 4096), within)
        return Arrival(RtpPacket.parse(data), loop.time(), source)

    async def receive_many(self, count: int) -> list[Arrival]:
        return [await self.receive() for _ in range(count)]

    async def nothing_within(self, seconds: float) -> bool:
        try:
            await self.receive(seconds)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        self.sock.close()


class Done:
    """An ``on_done`` that remembers each call."""

    def __init__(self) -> None:
        self.calls: list[bool] = []
        self.event = asyncio.Event()

    def __call__(self, completed: bool) -> None:
        self.calls.append(completed)
        self.event.set()

    async def wait(self) -> list[bool]:
        await asyncio.wait_for(self.event.wait(), WAIT)
        await asyncio.sleep(0.05)  # room for a wrong second call to show up
        return self.calls


class Digits:
    """A MediaListener that remembers each digit."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, str]] = []

    def on_digit(self, digit: str, source: str) -> None:
        self.heard.append((digit, source))

    async def wait_for(self, count: int) -> list[tuple[str, str]]:
        for _ in range(int(WAIT / 0.01)):
            if len(self.heard) >= count:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # room for a wrong extra report to show up
        return self.heard


@pytest.fixture
def port_low() -> int:
    # Below the usual ephemeral range (32768+) so the kernel's own picks do not collide.
    return random.randrange(20000, 32000 - RANGE_SIZE, 2)


@pytest.fixture
async def engine(port_low: int) -> AsyncIterator[RelayEngine]:
    relay = RelayEngine(
        host=HOST, port_low=port_low, port_high=port_low + RANGE_SIZE - 1, rtp_timeout=30.0
    )
    yield relay
    await relay.close()


@pytest.fixture
def phones() -> Iterator[list[Phone]]:
    made: list[Phone] = []
    yield made
    for phone in made:
        phone.close()


async def answered(
    engine: RelayEngine, phones: list[Phone], media_format: LegFormat | None = None
) -> tuple[LegMedia, Phone]:
    """A leg whose media we terminate, pointed at a phone by its SDP."""
    leg = await engine.allocate_leg("call-1")
    phone = Phone()
    phones.append(phone)
    engine.set_remote(leg, HOST, phone.port)
    if media_format is not None:
        engine.set_format(leg, media_format)
    return leg, phone


async def bridged(
    engine: RelayEngine, phones: list[Phone]
) -> tuple[LegMedia, LegMedia, Phone, Phone]:
    leg_a, phone_a = await answered(engine, phones, LegFormat(PCMU, EVENTS))
    leg_b, phone_b = await answered(engine, phones, LegFormat(PCMU, EVENTS))
    engine.connect(leg_a, leg_b)
    return leg_a, leg_b, phone_a, phone_b


def phone_rtp(sequence_number: int, payload: bytes = b"\xff" * FRAME) -> bytes:
    return RtpPacket(
        payload_type=PCMU,
        sequence_number=sequence_number,
        timestamp=sequence_number * FRAME,
        ssrc=0x0FF1CE,
        payload=payload,
    ).serialize()


def key_press(digit: str, timestamp: int, first_sequence: int = 1) -> list[bytes]:
    """What a phone sends for one key: RFC 4733 events, the end packet three times."""
    sender = DtmfSender(payload_type=EVENTS, ssrc=0x0FF1CE)
    return [
        packet.serialize()
        for packet in sender.packets(digit, sequence_number=first_sequence, timestamp=timestamp)
    ]


def tone_frames(digit: str, milliseconds: int) -> list[bytes]:
    """A DTMF key as the PCMU frames of a phone that sends its tones in the audio."""
    generator = ToneGenerator(dtmf_tone(digit))
    return [linear_to_ulaw(generator.next_frame()) for _ in range(milliseconds // 20)]


def assert_one_stream(arrivals: list[Arrival]) -> None:
    """One SSRC, and sequence numbers and timestamps stepping by one frame."""
    first = arrivals[0].packet
    for before, after in itertools.pairwise(arrivals):
        assert after.packet.ssrc == first.ssrc
        assert seq_diff(after.packet.sequence_number, before.packet.sequence_number) == 1
        assert ts_diff(after.packet.timestamp, before.packet.timestamp) == FRAME


# -- playing ----------------------------------------------------------------------------------


async def test_played_clip_arrives_as_paced_pcmu_frames_of_one_stream(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg, phone = await answered(engine, phones)
    clip = make_clip(0.25, seed=1)
    done = Done()
    engine.play(leg, [clip], on_done=done)

    count = math.ceil(clip.duration / 0.02)
    arrivals = await phone.receive_many(count)
    assert await done.wait() == [True]
    assert await phone.nothing_within(0.1)

    assert {a.source for a in arrivals} == {(HOST, leg.rtp_port)}
    assert_one_stream(arrivals)
    assert [a.packet.marker for a in arrivals] == [True] + [False] * (count - 1)
    assert {a.packet.payload_type for a in arrivals} == {PCMU}
    assert all(len(a.packet.payload) == FRAME for a in arrivals)
    assert b"".join(a.packet.payload for a in arrivals) == padded(clip.ulaw, 0xFF)
    # 13 frames 20 ms apart span 240 ms; loose bounds for a busy machine.
    spread = arrivals[-1].at - arrivals[0].at
    assert 0.17 < spread < 0.6
    assert engine.stats(leg).packets_played == count


async def test_leg_set_to_pcma_is_played_the_alaw_encoding(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg, phone = await answered(engine, phones, LegFormat(PCMA))
    clip = make_clip(0.05, seed=2)
    engine.play(leg, [clip])
    arrivals = await phone.receive_many(3)
    assert {a.packet.payload_type for a in arrivals} == {PCMA}
    assert b"".join(a.packet.payload for a in arrivals) == padded(clip.alaw, 0xD5)


async def test_clips_of_a_list_follow_one_another_without_a_gap(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg, phone = await answered(engine, phones)
    clips = [make_clip(0.1, seed=3), make_clip(0.05, seed=4), make_clip(0.03, seed=5)]
    done = Done()
    engine.play(leg, clips, on_done=done)
    sound = b"".join(clip.ulaw for clip in clips)
    arrivals = await phone.receive_many(math.ceil(len(sound) / FRAME))
    assert await done.wait() == [True]
    assert_one_stream(arrivals)
    assert b"".join(a.packet.payload for a in arrivals) == padded(sound, 0xFF)


async def test_loop_repeats_until_stopped_then_on_done_gets_false(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg, phone = await answered(engine, phones)
    clip = make_clip(0.05, seed=6)  # two and a half frames: the loop joins mid-frame
    done = Done()
    engine.play(leg, [clip], loop=True, on_done=done)
    arrivals = await phone.receive_many(8)
    engine.stop_playing(leg)
    assert await done.wait() == [False]
    assert_one_stream(arrivals)
    assert b"".join(a.packet.payload for a in arrivals) == (clip.ulaw * 4)[: 8 * FRAME]
    await asyncio.sleep(0.03)
    while not await phone.nothing_within(0.05):
        pass  # frames sent before the stop
    assert engine.playing_count == 0


async def test_new_play_replaces_the_old_one_on_the_same_stream(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg, phone = await answered(engine, phones)
    first, second = make_clip(5.0, seed=7), make_clip(0.06, seed=8)
    first_done, second_done = Done(), Done()
    engine.play(leg, [first], on_done=first_done)
    arrivals = await phone.receive_many(3)
    engine.play(leg, [second], on_done=second_done)
    assert await first_done.wait() == [False]
    assert await second_done.wait() == [True]
    while True:
        try:
            arrivals.append(await phone.receive(0.1))
        except TimeoutError:
            break
    # One stream throughout, no pause in it; the second clip is its last three frames,
    # the first of them marked as a new talkspurt.
    assert_one_stream(arrivals)
    replaced = [a.packet for a in arrivals[:-3]]
    replacing = [a.packet for a in arrivals[-3:]]
    assert b"".join(p.payload for p in replaced) == first.ulaw[: FRAME * len(replaced)]
    assert b"".join(p.payload for p in replacing) == second.ulaw
    assert [p.marker for p in replacing] == [True, False, False]
    assert not any(p.marker for p in replaced[1:])


async def test_second_play_after_a_pause_continues_sequence_and_moves_timestamp_on(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg, phone = await answered(engine, phones)
    clip = make_clip(0.04, seed=9)
    done = Done()
    engine.play(leg, [clip], on_done=done)
    first = await phone.receive_many(2)
    await done.wait()
    await asyncio.sleep(0.2)
    engine.play(leg, [clip])
    second = await phone.receive_many(2)

    last, resumed = first[-1].packet, second[0].packet
    assert resumed.ssrc == last.ssrc
    assert seq_diff(resumed.sequence_number, last.sequence_number) == 1
    assert resumed.marker
    assert not second[1].packet.marker
    # The timestamp counts the silence: about the time between the two packets.
    elapsed = round((second[0].at - first[-1].at) * 8000)
    assert ts_diff(resumed.timestamp, last.timestamp) == pytest.approx(elapsed, abs=800)
    assert ts_diff(resumed.timestamp, last.timestamp) > 1600


async def test_tone_for_seconds_plays_that_many_frames_then_reports_done(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg, phone = await answered(engine, phones)
    done = Done()
    engine.play_tone(leg, BUSY_NORTH_AMERICA, 0.1, on_done=done)
    arrivals = await phone.receive_many(5)
    assert await done.wait() == [True]
    assert await phone.nothing_within(0.1)
    assert_one_stream(arrivals)
    # Busy starts with its on period: 480 + 620 Hz at about -12 dBFS each.
    pcm = array("h", b"".join(ulaw_to_linear(a.packet.payload) for a in arrivals))
    assert max(pcm) > 8000


async def test_tone_without_seconds_plays_until_stopped(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg, phone = await answered(engine, phones)
    done = Done()
    engine.play_tone(leg, BUSY_NORTH_AMERICA, None, on_done=done)
    await phone.receive_many(10)
    assert done.calls == []
    engine.stop_playing(leg)
    assert await done.wait() == [False]


async def test_frames_before_the_phone_address_is_known_are_skipped_and_counted(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg = await engine.allocate_leg("call-1")
    engine.play(leg, [make_clip(2.0, seed=10)])
    await asyncio.sleep(0.1)
    assert engine.stats(leg).packets_unsent >= 3
    phone = Phone()
    phones.append(phone)
    engine.set_remote(leg, HOST, phone.port)
    arrival = await phone.receive()
    assert arrival.packet.payload_type == PCMU
    assert engine.stats(leg).packets_played >= 1


async def test_release_while_playing_reports_not_completed_and_frees_the_ports(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg, phone = await answered(engine, phones)
    done = Done()
    engine.play(leg, [make_clip(5.0, seed=11)], loop=True, on_done=done)
    await phone.receive_many(2)
    await engine.release(leg)
    assert await done.wait() == [False]
    assert engine.port_pool.in_use == 0
    assert engine.playing_count == 0
    engine.stop_playing(leg)  # harmless on a released leg
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, leg.rtp_port))


async def test_on_done_that_raises_is_logged_and_playing_goes_on(
    engine: RelayEngine, phones: list[Phone], caplog: pytest.LogCaptureFixture
) -> None:
    leg, phone = await answered(engine, phones)

    def broken(completed: bool) -> None:
        raise RuntimeError("application bug")

    engine.play(leg, [make_clip(0.02, seed=12)], on_done=broken)
    await phone.receive()
    await asyncio.sleep(0.1)
    engine.play(leg, [make_clip(0.02, seed=13)])
    await phone.receive()
    assert "completion callback failed" in caplog.text


async def test_only_g711_can_be_set_as_the_played_format(engine: RelayEngine) -> None:
    leg = await engine.allocate_leg("call-1")
    with pytest.raises(LocalProtocolError, match="PCMU"):
        engine.set_format(leg, LegFormat(9))


async def test_unknown_leg_is_refused(engine: RelayEngine) -> None:
    leg = await engine.allocate_leg("call-1")
    await engine.release(leg)
    with pytest.raises(LocalProtocolError):
        engine.play(leg, [make_clip(0.02, seed=14)])


# -- playing to a connected leg ---------------------------------------------------------------


async def test_connected_peer_is_not_heard_while_playing_and_heard_again_after(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg_a, leg_b, phone_a, phone_b = await bridged(engine, phones)
    done = Done()
    engine.play(leg_a, [make_clip(0.1, seed=15)], on_done=done)
    ours = await phone_a.receive()
    for sequence in range(1, 4):
        phone_b.send(phone_rtp(sequence), leg_b.rtp_port)
    assert await done.wait() == [True]
    heard = [ours]
    while True:
        try:
            heard.append(await phone_a.receive(0.1))
        except TimeoutError:
            break
    assert {a.packet.ssrc for a in heard} == {ours.packet.ssrc}
    assert engine.stats(leg_b).packets_relayed == 0

    phone_b.send(phone_rtp(4), leg_b.rtp_port)
    relayed = await phone_a.receive()
    assert relayed.packet.ssrc == 0x0FF1CE
    # The other way was relayed throughout.
    phone_a.send(phone_rtp(1), leg_a.rtp_port)
    assert (await phone_b.receive()).packet.ssrc == 0x0FF1CE


async def test_disconnect_stops_relaying_both_ways(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg_a, leg_b, phone_a, phone_b = await bridged(engine, phones)
    engine.disconnect(leg_a)
    phone_a.send(phone_rtp(1), leg_a.rtp_port)
    phone_b.send(phone_rtp(1), leg_b.rtp_port)
    assert await phone_a.nothing_within(0.1)
    assert await phone_b.nothing_within(0.05)
    engine.disconnect(leg_b)  # already apart: nothing happens
    engine.connect(leg_a, leg_b)
    phone_a.send(phone_rtp(2), leg_a.rtp_port)
    assert (await phone_b.receive()).packet.sequence_number == 2


# -- listening --------------------------------------------------------------------------------


async def test_key_press_with_three_end_packets_is_one_digit(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg, phone = await answered(engine, phones, LegFormat(PCMU, EVENTS))
    digits = Digits()
    engine.set_listener(leg, digits)
    for packet in key_press("5", timestamp=8000):
        phone.send(packet, leg.rtp_port)
    assert await digits.wait_for(1) == [("5", "rfc4733")]
    for packet in key_press("#", timestamp=16000, first_sequence=20):
        phone.send(packet, leg.rtp_port)
    assert await digits.wait_for(2) == [("5", "rfc4733"), ("#", "rfc4733")]


async def test_bridged_call_dtmf_is_relayed_and_seen(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg_a, _leg_b, phone_a, phone_b = await bridged(engine, phones)
    digits = Digits()
    engine.set_listener(leg_a, digits)
    packets = key_press("1", timestamp=4000)
    for packet in packets:
        phone_a.send(packet, leg_a.rtp_port)
    relayed = await phone_b.receive_many(len(packets))
    assert [a.packet.serialize() for a in relayed] == packets
    assert await digits.wait_for(1) == [("1", "rfc4733")]


async def test_listener_stops_hearing_when_removed(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg, phone = await answered(engine, phones, LegFormat(PCMU, EVENTS))
    digits = Digits()
    engine.set_listener(leg, digits)
    engine.set_listener(leg, None)
    for packet in key_press("5", timestamp=8000):
        phone.send(packet, leg.rtp_port)
    await asyncio.sleep(0.1)
    assert digits.heard == []


async def test_listener_that_raises_is_logged_and_the_relay_goes_on(
    engine: RelayEngine, phones: list[Phone], caplog: pytest.LogCaptureFixture
) -> None:
    leg_a, _leg_b, phone_a, phone_b = await bridged(engine, phones)

    class Broken:
        def on_digit(self, digit: str, source: str) -> None:
            raise RuntimeError("application bug")

    engine.set_listener(leg_a, Broken())
    with caplog.at_level(logging.ERROR):
        packets = key_press("9", timestamp=4000)
        for packet in packets:
            phone_a.send(packet, leg_a.rtp_port)
        await phone_b.receive_many(len(packets))
    assert "DTMF listener failed" in caplog.text


async def test_inband_key_tone_is_one_digit(engine: RelayEngine, phones: list[Phone]) -> None:
    leg, phone = await answered(engine, phones, LegFormat(PCMU))
    digits = Digits()
    engine.set_listener(leg, digits, inband=True)
    frames = [b"\xff" * FRAME] * 3 + tone_frames("7", 100) + [b"\xff" * FRAME] * 5
    for sequence, frame in enumerate(frames, start=1):
        phone.send(phone_rtp(sequence, frame), leg.rtp_port)
        await asyncio.sleep(0)
    assert await digits.wait_for(1) == [("7", "inband")]


async def test_inband_listening_is_off_unless_asked(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg, phone = await answered(engine, phones, LegFormat(PCMU))
    digits = Digits()
    engine.set_listener(leg, digits)
    for sequence, frame in enumerate(tone_frames("7", 100), start=1):
        phone.send(phone_rtp(sequence, frame), leg.rtp_port)
    await asyncio.sleep(0.15)
    assert digits.heard == []


async def test_phone_sending_events_and_tones_counts_each_key_once(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg, phone = await answered(engine, phones, LegFormat(PCMU, EVENTS))
    digits = Digits()
    engine.set_listener(leg, digits, inband=True)
    for packet in key_press("3", timestamp=8000):
        phone.send(packet, leg.rtp_port)
    await digits.wait_for(1)
    for sequence, frame in enumerate(tone_frames("4", 100), start=100):
        phone.send(phone_rtp(sequence, frame), leg.rtp_port)
    await asyncio.sleep(0.15)
    assert digits.heard == [("3", "rfc4733")]


# -- sending digits ---------------------------------------------------------------------------


async def test_send_digits_makes_valid_rfc4733_events(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg, phone = await answered(engine, phones, LegFormat(PCMU, EVENTS))
    engine.send_digits(leg, "12")
    # Per digit: 100 ms of updates every 20 ms (4), then the end packet three times.
    arrivals = await phone.receive_many(14)
    assert await phone.nothing_within(0.1)
    packets = [a.packet for a in arrivals]
    assert {p.payload_type for p in packets} == {EVENTS}
    assert len({p.ssrc for p in packets}) == 1
    for before, after in itertools.pairwise(packets):
        assert seq_diff(after.sequence_number, before.sequence_number) == 1
    first, second = packets[:7], packets[7:]
    for digit, event in (("1", first), ("2", second)):
        payloads = [TelephoneEvent.parse(p.payload) for p in event]
        assert {p.event for p in payloads} == {int(digit)}
        assert len({p.timestamp for p in event}) == 1  # RFC 4733 §2.5.1.2
        assert [p.marker for p in event] == [True] + [False] * 6
        assert [p.end for p in payloads] == [False] * 4 + [True] * 3
        assert [p.duration for p in payloads] == [160, 320, 480, 640, 800, 800, 800]
    assert ts_diff(second[0].timestamp, first[0].timestamp) >= 800
    receiver = DtmfReceiver(payload_type=EVENTS)
    heard = [d.digit for p in packets for d in receiver.receive(p, 0.0)]
    assert heard == ["1", "2"]


async def test_send_digits_without_events_sends_tones_a_detector_hears(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg, phone = await answered(engine, phones, LegFormat(PCMU))
    engine.send_digits(leg, "*5")
    arrivals = await phone.receive_many(16)
    assert await phone.nothing_within(0.1)
    assert {a.packet.payload_type for a in arrivals} == {PCMU}
    assert_one_stream(arrivals)
    detector = InbandDtmfDetector()
    heard = [key for a in arrivals for key in detector.feed(ulaw_to_linear(a.packet.payload))]
    assert heard == ["*", "5"]


async def test_digits_pause_a_playback_which_then_resumes(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg, phone = await answered(engine, phones, LegFormat(PCMU, EVENTS))
    clip = make_clip(0.2, seed=16)
    done = Done()
    engine.play(leg, [clip], on_done=done)
    packets = [a.packet for a in await phone.receive_many(2)]
    engine.send_digits(leg, "0")
    packets += [a.packet for a in await phone.receive_many(7 + 8)]
    assert await done.wait() == [True]
    assert await phone.nothing_within(0.1)
    kinds = "".join("e" if p.payload_type == EVENTS else "a" for p in packets)
    assert kinds.count("e") == 7
    assert "eeeeeee" in kinds  # the event goes out whole, the playback waiting
    audio = [p for p in packets if p.payload_type == PCMU]
    assert b"".join(p.payload for p in audio) == clip.ulaw
    event, resumed = packets[kinds.index("e")], packets[kinds.rindex("e") + 1]
    assert resumed.marker
    assert ts_diff(resumed.timestamp, event.timestamp) >= 800  # audio resumes past the event


async def test_a_bad_digit_sends_nothing(engine: RelayEngine, phones: list[Phone]) -> None:
    leg, phone = await answered(engine, phones, LegFormat(PCMU, EVENTS))
    with pytest.raises(LocalProtocolError):
        engine.send_digits(leg, "12x")
    assert await phone.nothing_within(0.1)
    assert engine.playing_count == 0


# -- the shared ticker --------------------------------------------------------------------------


async def test_many_legs_play_in_step_from_one_ticker(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    legs = [await answered(engine, phones) for _ in range(10)]
    clip = make_clip(0.1, seed=17)
    dones = [Done() for _ in legs]
    for (leg, _phone), done in zip(legs, dones, strict=True):
        engine.play(leg, [clip], on_done=done)
    for _leg, phone in legs:
        arrivals = await phone.receive_many(5)
        assert b"".join(a.packet.payload for a in arrivals) == clip.ulaw
    for done in dones:
        assert await done.wait() == [True]
    await asyncio.sleep(0.05)
    assert engine.playing_count == 0
    assert len({leg.leg_id for leg, _phone in legs}) == 10


async def test_a_stalled_loop_is_caught_up_without_losing_frames(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg, phone = await answered(engine, phones)
    clip = make_clip(0.3, seed=18)
    engine.play(leg, [clip])
    await phone.receive_many(2)
    # The loop stalls for two and a half frames.
    asyncio.get_running_loop().call_soon(time.sleep, 0.05)
    arrivals = await phone.receive_many(13)
    assert_one_stream(arrivals)
    assert b"".join(a.packet.payload for a in arrivals) == clip.ulaw[2 * FRAME :]


async def test_format_change_mid_play_switches_law_at_the_same_place(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg, phone = await answered(engine, phones, LegFormat(PCMU))
    clip = make_clip(1.0, seed=19)
    engine.play(leg, [clip])
    arrivals = await phone.receive_many(2)
    engine.set_format(leg, LegFormat(PCMA))  # a re-INVITE changed the codec
    while arrivals[-1].packet.payload_type == PCMU:
        arrivals.append(await phone.receive())
    engine.stop_playing(leg)
    assert_one_stream(arrivals)
    switched = len(arrivals) - 1
    assert arrivals[switched].packet.payload == clip.alaw[switched * FRAME : (switched + 1) * FRAME]


async def test_leg_given_a_format_is_watched_for_rtp_timeout(port_low: int) -> None:
    class Clock:
        now = 1000.0

        def monotonic(self) -> float:
            return self.now

        def wall(self) -> float:
            return 1_700_000_000.0 + self.now

    relay = RelayEngine(
        host=HOST, port_low=port_low, port_high=port_low + 9, rtp_timeout=30.0, clock=Clock()
    )
    try:
        application_leg = await relay.allocate_leg("call-1")
        ringing_leg = await relay.allocate_leg("call-2")
        relay.set_format(application_leg, LegFormat(PCMU, EVENTS))
        assert relay.idle_legs(Clock.now + 29.0) == []
        assert relay.idle_legs(Clock.now + 30.0) == [application_leg]
        assert ringing_leg not in relay.idle_legs(Clock.now + 60.0)
    finally:
        await relay.close()


# --------------------------------------------------------------------------- recording


def level_frame(level: int) -> bytes:
    pcm = array("h", [level] * FRAME)
    return linear_to_ulaw(pcm.tobytes())


async def send_paced(phone: Phone, port: int, payload: bytes, count: int, first: int = 1) -> None:
    for sequence_number in range(first, first + count):
        phone.send(phone_rtp(sequence_number, payload), port)
        await asyncio.sleep(0.02)


def wav_channels(path: Path) -> tuple[list[int], list[int]]:
    with wave.open(str(path), "rb") as recording:
        assert recording.getnchannels() == 2
        samples = array("h", recording.readframes(recording.getnframes()))
    return list(samples[0::2]), list(samples[1::2])


async def test_a_bridged_call_records_each_phone_on_its_own_channel_while_relaying(
    engine: RelayEngine, phones: list[Phone], tmp_path: Path
) -> None:
    leg_a, leg_b, phone_a, phone_b = await bridged(engine, phones)
    recording = CallRecording(tmp_path / "call.wav", 2, wall=lambda: datetime.now(UTC))
    engine.start_recording(recording, [leg_a, leg_b])
    await asyncio.gather(
        send_paced(phone_a, leg_a.rtp_port, level_frame(3000), 25),
        send_paced(phone_b, leg_b.rtp_port, level_frame(-5000), 25),
    )
    engine.stop_recording(recording)
    recording.close()

    # Relaying went on unchanged while recording.
    assert engine.stats(leg_a).packets_relayed == 25
    assert engine.stats(leg_b).packets_relayed == 25
    left, right = wav_channels(tmp_path / "call.wav")
    assert 0.4 <= len(left) / 8000 <= 0.7
    assert sum(1 for value in left if 2800 < value < 3200) >= 20 * FRAME
    assert sum(1 for value in right if -5300 < value < -4700) >= 20 * FRAME
    assert not any(-5300 < value < -4700 for value in left), "the callee leaked into the left"


async def test_a_stopped_recording_is_no_longer_written_and_the_ticker_rests(
    engine: RelayEngine, phones: list[Phone], tmp_path: Path
) -> None:
    leg_a, leg_b, phone_a, _ = await bridged(engine, phones)
    recording = CallRecording(tmp_path / "call.wav", 2, wall=lambda: datetime.now(UTC))
    engine.start_recording(recording, [leg_a, leg_b])
    await asyncio.sleep(0.2)
    engine.stop_recording(recording)
    written = recording.seconds
    await send_paced(phone_a, leg_a.rtp_port, level_frame(3000), 5)
    assert recording.seconds == written
    await asyncio.sleep(0.05)
    assert not engine._ticker.running
    recording.close()


async def test_a_recording_needs_one_leg_per_channel(
    engine: RelayEngine, phones: list[Phone], tmp_path: Path
) -> None:
    leg_a, _, _, _ = await bridged(engine, phones)
    recording = CallRecording(tmp_path / "call.wav", 2, wall=lambda: datetime.now(UTC))
    with pytest.raises(LocalProtocolError, match="2 channels"):
        engine.start_recording(recording, [leg_a])
    recording.close()
