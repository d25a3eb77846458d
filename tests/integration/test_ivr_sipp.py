"""The auto attendant with real peers: SIPp callers reach a menu, hear its greeting, press digits
(RFC 4733 events replayed from SIPp's own dtmf_2833 captures, or SIP INFO) and are put through
to the extension chosen (a SIPp callee answers); time conditions pick their destination.

The caller's SDP sends media to a UDP socket of this test, so the test hears the prompts
Ringfort plays and sends the digits from the address the caller announced, as a phone would.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from callkit import (
    CallServer,
    call_server,
    finish,
    password_of,
    register_at,
    start_callee,
    the_cdr,
    when,
)
from harness import ServerFactory
from peers import LOCALHOST, RingfortServer, Sipp, SippRun, free_port_block, wait_until

from ringfort.media.prompts import SHIPPED_PROMPTS, PromptLibrary
from ringfort.rtp.g711 import alaw_to_linear

pytestmark = pytest.mark.peers

CALLERS = ["601", "611", "621", "631", "641", "651"]
CALLEES = ["602", "603", "604", "605", "606", "607", "608"]
PCAP_DIR = Path("/usr/share/sip-tester")
"""SIPp's own captures of RFC 4733 digits (PT 101), shipped with the sip-tester package."""
PCMA = 8
TELEPHONE_EVENT = 101


@pytest.fixture(scope="module")
def ivr_pbx(module_ringfort_factory: ServerFactory) -> CallServer:
    """A server with menus and time conditions made through the CLI."""
    setup = call_server(module_ringfort_factory, CALLERS + CALLEES, name="ivr", size=60)
    cli = setup.server.cli
    # 700: press 1 for 602, no direct dial; 7 is invalid; nothing -> timeout destination 603.
    cli(
        "ivr", "add", "main", "--number", "700", "--option", "1=extension:602",
        "--no-direct-dial", "--timeout", "3", "--retries", "1",
        "--timeout-destination", "extension:603", "--invalid-destination", "hangup",
    )  # fmt: skip
    # 701: a short greeting and no patience: silence goes straight to 604.
    cli(
        "ivr", "add", "quick", "--number", "701", "--greeting", "digits/7",
        "--option", "1=extension:605", "--no-direct-dial", "--timeout", "1", "--retries", "0",
        "--timeout-destination", "extension:604",
    )  # fmt: skip
    # 702: direct dial of any extension.
    cli("ivr", "add", "dial", "--number", "702", "--greeting", "digits/0", "--direct-dial")
    today = datetime.now(UTC).date()
    cli(
        "timecond", "add", "always", "--number", "710", "--timezone", "UTC",
        "--rule", "mon-sun 00:00-24:00", "--match", "extension:607", "--nomatch", "extension:608",
    )  # fmt: skip
    cli(
        "timecond", "add", "holiday", "--number", "711", "--timezone", "UTC",
        "--rule", "mon-sun 00:00-24:00",
        "--holiday", today.isoformat(), "--holiday", (today + timedelta(days=1)).isoformat(),
        "--match", "extension:607", "--nomatch", "extension:608",
    )  # fmt: skip
    return setup


# --------------------------------------------------------------------------- media


class RtpSocket:
    """The caller's media end: records every RTP packet that arrives and sends ours."""

    def __init__(self) -> None:
        self.port = free_port_block(2)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((LOCALHOST, self.port))
        self._sock.settimeout(0.2)
        self.packets: list[tuple[float, bytes]] = []
        self.source: tuple[str, int] | None = None
        self._next: tuple[int, int] | None = None
        """Sequence number and timestamp the next replayed capture starts at."""
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                data, source = self._sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            self.source = source
            self.packets.append((time.monotonic(), data))

    def send_pcap(self, path: Path) -> None:
        """Replay the RTP packets of a capture to where our media comes from, 20 ms apart.

        Every capture starts at the same sequence number and timestamp; a phone's next
        key press is a new event (RFC 4733 §2.5.1.2: a new timestamp), so each replay is
        moved on past the previous one, as the phone's own clock would have it.
        """
        assert self.source is not None, "no RTP received yet: nowhere to send to"
        packets = rtp_of_pcap(path)
        first_sequence, first_timestamp = struct.unpack_from("!HI", packets[0], 2)
        if self._next is None:
            self._next = (first_sequence, first_timestamp)
        sequence_shift = self._next[0] - first_sequence
        timestamp_shift = self._next[1] - first_timestamp
        for packet in packets:
            sequence, timestamp = struct.unpack_from("!HI", packet, 2)
            moved = bytearray(packet)
            struct.pack_into(
                "!HI", moved, 2, (sequence + sequence_shift) & 0xFFFF,
                (timestamp + timestamp_shift) & 0xFFFFFFFF,
            )  # fmt: skip
            self._sock.sendto(bytes(moved), self.source)
            time.sleep(0.02)
        last_sequence, last_timestamp = struct.unpack_from("!HI", packets[-1], 2)
        # The next key press: one second of the phone's 8 kHz clock later.
        self._next = (
            (last_sequence + sequence_shift + 1) & 0xFFFF,
            (last_timestamp + timestamp_shift + 8000) & 0xFFFFFFFF,
        )

    def audio_since(self, start: float) -> bytes:
        """The concatenated PCMA payloads received since ``start`` (monotonic)."""
        return b"".join(
            data[12:] for at, data in self.packets if at >= start and data[1] & 0x7F == PCMA
        )

    def count_since(self, start: float) -> int:
        """How many packets arrived since ``start``."""
        return sum(1 for at, _ in self.packets if at >= start)

    def close(self) -> None:
        self._closed.set()
        self._sock.close()
        self._thread.join(timeout=2.0)


@pytest.fixture
def rtp() -> Iterator[RtpSocket]:
    """The caller's media socket, closed after the test."""
    media = RtpSocket()
    yield media
    media.close()


def rtp_of_pcap(path: Path) -> list[bytes]:
    """The UDP payloads of an Ethernet/IPv4 libpcap file (SIPp's dtmf_2833_N.pcap)."""
    data = path.read_bytes()
    magic = struct.unpack_from("<I", data)[0]
    assert magic == 0xA1B2C3D4, f"{path} is not a little-endian libpcap file"
    payloads = []
    offset = 24
    while offset + 16 <= len(data):
        length = struct.unpack_from("<I", data, offset + 8)[0]
        frame = data[offset + 16 : offset + 16 + length]
        offset += 16 + length
        ip_header = (frame[14] & 0x0F) * 4
        payloads.append(frame[14 + ip_header + 8 :])
    return payloads


def rms(pcm: bytes) -> float:
    """Root mean square of 16-bit little-endian samples."""
    count = len(pcm) // 2
    if not count:
        return 0.0
    samples = struct.unpack(f"<{count}h", pcm[: count * 2])
    return (sum(sample * sample for sample in samples) / count) ** 0.5


def prompt_alaw(name: str) -> bytes:
    """A shipped prompt as Ringfort sends it to a PCMA caller."""
    return PromptLibrary([SHIPPED_PROMPTS]).load(name).alaw


# --------------------------------------------------------------------------- calls


def call_menu(
    sipp: Sipp,
    server: RingfortServer,
    caller: str,
    number: str,
    rtp: RtpSocket,
    *,
    talk_ms: int,
    scenario: str = "ivr_caller.xml",
    keys: dict[str, str] | None = None,
) -> SippRun:
    """Register ``caller`` from a fresh port and call ``number``, media to ``rtp``."""
    port = free_port_block(1)
    register_at(sipp, server, caller, port)
    return sipp.start(
        scenario,
        remote=server.sip_address,
        service=number,
        username=caller,
        password=password_of(caller),
        keys={"caller": caller, "rtp_port": str(rtp.port), **(keys or {})},
        sip_port=port,
        time_limit=30,
        extra=["-auth_uri", f"{number}@{server.sip_address}", "-d", str(talk_ms)],
        tag=f"caller-{caller}",
    )


def wait_for_greeting(rtp: RtpSocket, since: float, packets: int = 25) -> None:
    """Wait until ``packets`` RTP packets of a prompt have arrived."""
    wait_until(
        lambda: rtp.count_since(since) >= packets, timeout=10.0, what=f"{packets} RTP packets"
    )


def bridged_record(server: RingfortServer, caller: str, callee: str, linkedid: str) -> dict:
    """The CDR of the leg a menu put through, linked to the menu call."""
    record = the_cdr(server, caller, callee)
    assert record["linkedid"] == linkedid, record
    assert record["uniqueid"] != linkedid, record
    return record


# --------------------------------------------------------------------------- tests


def test_rfc4733_digit_in_greeting_connects_to_the_option(
    sipp: Sipp, ivr_pbx: CallServer, rtp: RtpSocket
) -> None:
    server = ivr_pbx.server
    callee = start_callee(sipp, server, "602", "uas_answer.xml")
    started = time.monotonic()
    caller = call_menu(sipp, server, "601", "700", rtp, talk_ms=6000)
    wait_for_greeting(rtp, started)
    greeting = alaw_to_linear(rtp.audio_since(started))
    assert rms(greeting) > 500, "the greeting is silence"
    assert rtp.packets[0][1][1] & 0x7F == PCMA, "the caller offered PCMA first; prompts must use it"
    rtp.send_pcap(PCAP_DIR / "dtmf_2833_1.pcap")
    finish(caller, callee)
    menu_call = the_cdr(server, "601", "700")
    assert menu_call["disposition"] == "ANSWERED", menu_call
    assert menu_call["hangup_by"] == "caller", menu_call
    leg = bridged_record(server, "601", "602", menu_call["uniqueid"])
    assert leg["disposition"] == "ANSWERED", leg
    assert when(leg["answer"]) >= when(menu_call["answer"]), (leg, menu_call)


def test_invalid_digit_plays_the_retry_prompt_then_a_valid_one_connects(
    sipp: Sipp, ivr_pbx: CallServer, rtp: RtpSocket
) -> None:
    server = ivr_pbx.server
    callee = start_callee(sipp, server, "602", "uas_answer.xml")
    started = time.monotonic()
    caller = call_menu(sipp, server, "611", "700", rtp, talk_ms=9000)
    wait_for_greeting(rtp, started)
    after_invalid = time.monotonic()
    rtp.send_pcap(PCAP_DIR / "dtmf_2833_7.pcap")
    invalid = prompt_alaw("invalid")
    wait_until(
        lambda: invalid[:800] in rtp.audio_since(after_invalid),
        timeout=5.0,
        what="the invalid-choice prompt",
    )
    rtp.send_pcap(PCAP_DIR / "dtmf_2833_1.pcap")
    finish(caller, callee)
    menu_call = the_cdr(server, "611", "700")
    bridged_record(server, "611", "602", menu_call["uniqueid"])


def test_no_input_goes_to_the_timeout_destination(
    sipp: Sipp, ivr_pbx: CallServer, rtp: RtpSocket
) -> None:
    server = ivr_pbx.server
    callee = start_callee(sipp, server, "604", "uas_answer.xml")
    started = time.monotonic()
    caller = call_menu(sipp, server, "621", "701", rtp, talk_ms=7000)
    wait_for_greeting(rtp, started, packets=10)
    no_input = prompt_alaw("no-input")
    wait_until(
        lambda: no_input[:800] in rtp.audio_since(started), timeout=6.0, what="no-input prompt"
    )
    finish(caller, callee)
    menu_call = the_cdr(server, "621", "701")
    leg = bridged_record(server, "621", "604", menu_call["uniqueid"])
    assert leg["disposition"] == "ANSWERED", leg


def test_sip_info_digit_connects_to_the_option(
    sipp: Sipp, ivr_pbx: CallServer, rtp: RtpSocket
) -> None:
    server = ivr_pbx.server
    callee = start_callee(sipp, server, "605", "uas_answer.xml")
    caller = call_menu(
        sipp, server, "631", "701", rtp, talk_ms=4000, scenario="ivr_caller_info.xml",
        keys={"digit": "1"},
    )  # fmt: skip
    finish(caller, callee)
    menu_call = the_cdr(server, "631", "701")
    leg = bridged_record(server, "631", "605", menu_call["uniqueid"])
    assert leg["disposition"] == "ANSWERED", leg


def test_direct_dial_of_an_extension_number(
    sipp: Sipp, ivr_pbx: CallServer, rtp: RtpSocket
) -> None:
    server = ivr_pbx.server
    callee = start_callee(sipp, server, "606", "uas_answer.xml")
    started = time.monotonic()
    caller = call_menu(sipp, server, "641", "702", rtp, talk_ms=7000)
    wait_for_greeting(rtp, started, packets=5)
    for digit in "606":
        rtp.send_pcap(PCAP_DIR / f"dtmf_2833_{digit}.pcap")
    finish(caller, callee)
    menu_call = the_cdr(server, "641", "702")
    bridged_record(server, "641", "606", menu_call["uniqueid"])


@pytest.mark.parametrize(("number", "chosen"), [("710", "607"), ("711", "608")])
def test_time_condition_routes_by_its_hours_and_holidays(
    sipp: Sipp, ivr_pbx: CallServer, rtp: RtpSocket, number: str, chosen: str
) -> None:
    server = ivr_pbx.server
    callee = start_callee(sipp, server, chosen, "uas_answer.xml")
    caller = call_menu(sipp, server, "651", number, rtp, talk_ms=1000)
    finish(caller, callee)
    record = the_cdr(server, "651", number)
    assert record["disposition"] == "ANSWERED", record
