"""Helpers shared by the call tests: servers with their own media ports, SIPp callers and
callees registered from their own ports, what they saw, and the call detail records."""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from harness import ServerFactory, extensions
from peers import (
    RingfortServer,
    SipMessageText,
    Sipp,
    SippResult,
    SippRun,
    free_port_block,
    port_is_free,
    wait_until,
)

Transport = Literal["u1", "t1"]
CDR_WAIT = 10.0
"""CDRs are written after the call ends; the CLI itself needs about a second per look."""


def password_of(number: str) -> str:
    """The password ``harness.extensions`` gives ``number``."""
    return extensions(number)[0].password


# --------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class MediaRange:
    """The RTP/RTCP ports one server may use (RINGFORT_MEDIA__PORT_LOW..PORT_HIGH)."""

    low: int
    high: int

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.low <= port <= self.high

    def env(self) -> dict[str, str]:
        """The settings that give a server this range."""
        return {
            "RINGFORT_MEDIA__PORT_LOW": str(self.low),
            "RINGFORT_MEDIA__PORT_HIGH": str(self.high),
        }


def media_range(size: int) -> MediaRange:
    """A block of free ports of its own, starting on an even port (RTP even, RTCP odd)."""
    base = free_port_block(size + 1)
    low = base + base % 2
    return MediaRange(low, low + size - 1)


@dataclass(frozen=True)
class CallServer:
    """A running server and the media ports it was given."""

    server: RingfortServer
    media: MediaRange


def call_server(
    factory: ServerFactory, numbers: list[str], *, name: str, size: int, **env: str
) -> CallServer:
    """A server with ``numbers`` as extensions, its own media range and settings ``env``."""
    ports = media_range(size)
    settings = {**ports.env(), **{f"RINGFORT_{key.upper()}": value for key, value in env.items()}}
    server = factory(env=settings, extensions=extensions(*numbers), name=name)
    return CallServer(server, ports)


def one_agent_queue(
    factory: ServerFactory, agent_phone: str, others: list[str], *, name: str
) -> CallServer:
    """A server whose queue ``help`` (number 510, ring 10 s, no wrap-up) has one agent,
    11 (Gleb), logged in at ``agent_phone``; ``others`` are further extensions."""
    setup = call_server(factory, [agent_phone, *others], name=name, size=40, media__rtp_timeout="0")
    cli = setup.server.cli
    cli("queue", "add", "help", "--number", "510", "--ring-timeout", "10", "--wrapup", "0")
    cli("agent", "add", "--number", "11", "--name", "Gleb", "--pin", "1111")
    cli("queue", "add-agent", "help", "--agent", "11", "--phone", agent_phone)
    return setup


# --------------------------------------------------------------------------- peers


def udp_port_bound(port: int) -> bool:
    """True when some socket is bound to UDP ``port`` (read from /proc, without binding)."""
    for table in (Path("/proc/net/udp"), Path("/proc/net/udp6")):
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            local = line.split()[1]
            if int(local.rsplit(":", 1)[1], 16) == port:
                return True
    return False


def register_at(
    sipp: Sipp, server: RingfortServer, number: str, port: int, *, transport: Transport = "u1"
) -> None:
    """Register ``sip:NUMBER@127.0.0.1:PORT`` from that very port (no NAT in between)."""
    result = sipp.run(
        "register.xml",
        transport=transport,
        remote=server.sip_address,
        service=number,
        username=number,
        password=password_of(number),
        keys={"expires": "300"},
        sip_port=port,
        time_limit=10,
        tag=f"register-{number}",
    )
    assert result.returncode == 0, result.describe()


def clear_bindings(sipp: Sipp, server: RingfortServer, number: str) -> None:
    """Remove every binding of ``number`` (REGISTER with Contact: * and Expires: 0)."""
    result = sipp.run(
        "unregister.xml",
        remote=server.sip_address,
        service=number,
        username=number,
        password=password_of(number),
        keys={"binding": "*"},
        time_limit=10,
        tag=f"unregister-{number}",
    )
    assert result.returncode == 0, result.describe()


def start_callee(
    sipp: Sipp,
    server: RingfortServer,
    number: str,
    scenario: str | Path,
    *,
    calls: int = 1,
    time_limit: int = 20,
    transport: Transport = "u1",
    keys: Mapping[str, str] | None = None,
) -> SippRun:
    """Register a fresh port as ``number`` and start the UAS ``scenario`` on it (``keys``
    fill its ``[key]`` keywords)."""
    port = free_port_block(1)
    register_at(sipp, server, number, port, transport=transport)
    run = sipp.start(
        scenario,
        sip_port=port,
        calls=calls,
        time_limit=time_limit,
        tag=f"callee-{number}",
        transport=transport,
        keys=keys,
    )
    if transport == "u1":
        wait_until(lambda: udp_port_bound(port), timeout=5.0, what=f"SIPp UAS bound to {port}")
    else:
        wait_until(lambda: not port_is_free(port), timeout=5.0, what=f"SIPp UAS on TCP {port}")
    return run


def start_caller(
    sipp: Sipp,
    server: RingfortServer,
    caller: str,
    dialled: str,
    scenario: str,
    *,
    talk_ms: int | None = None,
    calls: int = 1,
    rate: int | None = None,
    time_limit: int = 20,
    transport: Transport = "u1",
    keys: Mapping[str, str] | None = None,
) -> SippRun:
    """Register a fresh port as ``caller``, then call ``dialled`` from it with ``scenario``
    (``keys`` fill its ``[key]`` keywords besides ``[caller]``)."""
    port = free_port_block(1)
    register_at(sipp, server, caller, port, transport=transport)
    # SIPp's default digest uri is the server's address; make it the Request-URI.
    extra = ["-auth_uri", f"{dialled}@{server.sip_address}"]
    if talk_ms is not None:
        extra += ["-d", str(talk_ms)]
    if rate is not None:
        extra += ["-r", str(rate)]
    return sipp.start(
        scenario,
        remote=server.sip_address,
        service=dialled,
        username=caller,
        password=password_of(caller),
        keys={"caller": caller, **(keys or {})},
        sip_port=port,
        calls=calls,
        time_limit=time_limit,
        extra=extra,
        tag=f"caller-{caller}",
        transport=transport,
    )


# --------------------------------------------------------------------------- SIP messages


def requests_received(result: SippResult, method: str) -> list[SipMessageText]:
    """Requests of ``method`` that SIPp received."""
    return [
        message
        for message in result.messages
        if message.direction == "received"
        and message.status is None
        and message.first_line.startswith(f"{method} ")
    ]


def cseq_method(message: SipMessageText) -> str:
    """The method named in the CSeq header."""
    values = message.header("CSeq")
    return values[0].split()[-1].upper() if values else ""


def invite_finals(result: SippResult) -> list[int]:
    """Final statuses SIPp received for its INVITEs, in order (407 challenges included)."""
    return [
        message.status
        for message in result.received()
        if message.status is not None and message.status >= 200 and cseq_method(message) == "INVITE"
    ]


def body(message: SipMessageText) -> str:
    """The message body (SDP)."""
    parts = re.split(r"\r?\n\r?\n", message.text, maxsplit=1)
    return parts[1] if len(parts) == 2 else ""


@dataclass(frozen=True)
class AudioOffer:
    """The audio stream an SDP describes (RFC 4566 §5.7, §5.14)."""

    address: str
    port: int
    payload_types: tuple[str, ...]
    direction: str
    """sendrecv, sendonly, recvonly or inactive (RFC 3264 §5.1); sendrecv when absent."""


def audio_of(message: SipMessageText) -> AudioOffer:
    """Parse the audio connection, port, formats and direction of a message's SDP."""
    sdp = body(message)
    address = re.search(r"^c=IN IP4 (\S+)", sdp, re.MULTILINE)
    media = re.search(r"^m=audio (\d+) RTP/AVP((?: \S+)*)", sdp, re.MULTILINE)
    assert address is not None, f"no connection address in:\n{message.text}"
    assert media is not None, f"no audio stream in:\n{message.text}"
    direction = re.search(r"^a=(sendrecv|sendonly|recvonly|inactive)\s*$", sdp, re.MULTILINE)
    return AudioOffer(
        address=address.group(1),
        port=int(media.group(1)),
        payload_types=tuple(media.group(2).split()),
        direction=direction.group(1) if direction else "sendrecv",
    )


def uri_user(header_value: str) -> str:
    """The user part of the URI in a From or To header value."""
    match = re.search(r"sips?:([^@;>]+)@", header_value)
    assert match is not None, header_value
    return match.group(1)


def finish(caller: SippRun, *callees: SippRun) -> tuple[SippResult, list[SippResult]]:
    """Wait for the caller, then the callees; require that every SIPp run succeeded.

    When the caller failed, the callees are given only a moment: they may be
    waiting for a request that will never come.
    """
    calling = caller.finish()
    grace = None if calling.returncode == 0 else 3.0
    called = [callee.finish(grace) for callee in callees]
    failed = [result for result in (calling, *called) if result.returncode != 0]
    assert not failed, "\n\n".join(result.describe() for result in failed)
    return calling, called


# --------------------------------------------------------------------------- records and status


Cdr = dict[str, Any]


def cdr_records(server: RingfortServer) -> list[Cdr]:
    """``ringfort cdr list --json``, parsed."""
    text = server.cli("cdr", "list", "--json").stdout
    records: list[Cdr] = json.loads(text)
    return records


def wait_for_cdrs(
    server: RingfortServer, src: str, dst: str, *, count: int = 1, timeout: float = CDR_WAIT
) -> list[Cdr]:
    """The CDRs of calls from ``src`` to ``dst`` once there are ``count`` of them."""

    def probe() -> list[Cdr] | None:
        found = [item for item in cdr_records(server) if item["src"] == src and item["dst"] == dst]
        return found if len(found) >= count else None

    try:
        return wait_until(probe, timeout=timeout, interval=0.3, what=f"CDRs {src} -> {dst}")
    except TimeoutError as error:
        raise AssertionError(f"{error}; all records: {cdr_records(server)}") from None


def wait_for_cdrs_since(
    server: RingfortServer, src: str, dst: str, since: datetime, *, timeout: float = CDR_WAIT
) -> list[Cdr]:
    """The CDRs of calls from ``src`` to ``dst`` that started at ``since`` or later."""

    def probe() -> list[Cdr] | None:
        found = [
            item
            for item in cdr_records(server)
            if item["src"] == src and item["dst"] == dst and when(item["start"]) >= since
        ]
        return found or None

    try:
        return wait_until(probe, timeout=timeout, interval=0.3, what=f"a CDR {src} -> {dst}")
    except TimeoutError as error:
        raise AssertionError(f"{error}; all records: {cdr_records(server)}") from None


def the_cdr(server: RingfortServer, src: str, dst: str, *, since: datetime | None = None) -> Cdr:
    """The one CDR of the call from ``src`` to ``dst`` (started at ``since`` or later)."""
    if since is None:
        found = wait_for_cdrs(server, src, dst)
    else:
        found = wait_for_cdrs_since(server, src, dst, since)
    assert len(found) == 1, f"one record per call expected, got {found}"
    return found[0]


def when(value: str | None) -> datetime:
    """An ISO 8601 time of a CDR."""
    assert value is not None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_answered(record: Cdr, *, hangup_by: str, billsec: float, slack: float = 1.0) -> None:
    """An ANSWERED record whose billsec is ``billsec`` give or take ``slack``."""
    assert record["disposition"] == "ANSWERED", record
    assert record["hangup_by"] == hangup_by, record
    assert abs(record["billsec"] - billsec) <= slack, record
    start, answer, end = when(record["start"]), when(record["answer"]), when(record["end"])
    assert start <= answer <= end, record
    assert record["duration"] >= record["billsec"], record
    assert record["recording"] is None, record


def assert_unanswered(record: Cdr, *, disposition: str, hangup_by: str) -> None:
    """A record of a call nobody answered."""
    assert record["disposition"] == disposition, record
    assert record["hangup_by"] == hangup_by, record
    assert record["answer"] is None, record
    assert record["billsec"] == 0, record
    assert when(record["start"]) <= when(record["end"]), record


def live_status(server: RingfortServer) -> dict[str, Any]:
    """``GET /api/v1/status`` (with the ``calls`` and ``media`` sections)."""
    with urllib.request.urlopen(f"{server.http_url}/api/v1/status", timeout=5.0) as reply:
        document: dict[str, Any] = json.loads(reply.read().decode())
    return document


def udp_ports_of(pid: int, ports: MediaRange) -> list[int]:
    """UDP ports in ``ports`` that process ``pid`` holds a socket bound to."""
    inodes: set[str] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed while we looked
        match = re.fullmatch(r"socket:\[(\d+)\]", target)
        if match:
            inodes.add(match.group(1))
    found: list[int] = []
    for table in ("udp", "udp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            port = int(fields[1].rsplit(":", 1)[1], 16)
            if fields[9] in inodes and port in ports:
                found.append(port)
    return sorted(found)


class Sampler:
    """Calls ``probe`` every ``interval`` seconds in a thread and keeps the largest answer."""

    def __init__(self, probe: Callable[[], int], interval: float = 0.1) -> None:
        self.peak = 0
        self._probe = probe
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.peak = max(self.peak, self._probe())
            except OSError:
                continue

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5.0)
