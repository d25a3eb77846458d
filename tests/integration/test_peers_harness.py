"""The harness itself, without Ringfort: SIPp and baresip against SIPp test doubles,
the stdlib digest client against SIPp's digest check, process and server control."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Literal

import peers
import pytest
from harness import BaresipFactory
from peers import (
    LOCALHOST,
    RawRegistrar,
    RingfortServer,
    ServerStartError,
    Sipp,
    SippRun,
    free_port_block,
    parse_sipp_message_log,
    port_is_free,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.peers


def registrar_double(
    sipp: Sipp, *, password: str, transport: Literal["u1", "t1"] = "u1", calls: int = 1
) -> SippRun:
    """A SIPp registrar double, started and listening."""
    double = sipp.start(
        "double_registrar.xml",
        tag="double",
        variables={"password": password},
        transport=transport,
        calls=calls,
        time_limit=15,
    )
    # A client must not send before SIPp has bound its port.
    wait_until(lambda: not port_is_free(double.sip_port), timeout=5, what="the double listening")
    return double


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_sipp_register_scenario_authenticates_against_a_registrar_double(
    sipp: Sipp, transport: Literal["u1", "t1"]
) -> None:
    double = registrar_double(sipp, password="secret101", transport=transport)
    client = sipp.run(
        "register.xml",
        remote=f"{LOCALHOST}:{double.sip_port}",
        service="101",
        username="101",
        password="secret101",
        keys={"expires": "120"},
        transport=transport,
    )
    registrar = double.finish()
    assert client.returncode == 0, client.describe()
    assert registrar.returncode == 0, registrar.describe()
    assert client.successful_calls == 1
    [ok] = client.received(200)
    assert ok.header("Contact")[0].endswith(";expires=300")
    [authenticated] = [m for m in client.sent("REGISTER") if m.header("Authorization")]
    assert 'username="101"' in authenticated.header("Authorization")[0]
    assert {m.transport for m in client.messages} == {"UDP" if transport == "u1" else "TCP"}


def test_sipp_wrong_password_scenario_passes_on_403(sipp: Sipp) -> None:
    double = registrar_double(sipp, password="right-one")
    client = sipp.run(
        "register_wrong_password.xml",
        remote=f"{LOCALHOST}:{double.sip_port}",
        service="101",
        username="101",
        password="wrong-one",
        keys={"expires": "120"},
    )
    double.finish()
    assert client.returncode == 0, client.describe()
    assert [m.status for m in client.received() if m.status and m.status >= 200] == [401, 403]


def test_sipp_register_scenario_fails_when_the_password_is_wrong(sipp: Sipp) -> None:
    double = registrar_double(sipp, password="right-one")
    client = sipp.run(
        "register.xml",
        remote=f"{LOCALHOST}:{double.sip_port}",
        service="101",
        username="101",
        password="wrong-one",
        keys={"expires": "120"},
        time_limit=5,
    )
    double.finish()
    assert client.returncode == 1
    assert "403" in client.errors


def test_stdlib_digest_client_passes_sipp_digest_verification(sipp: Sipp) -> None:
    double = registrar_double(sipp, password="secret101", calls=2)
    with RawRegistrar((LOCALHOST, double.sip_port)) as client:
        good = client.register("101", "secret101", algorithm="MD5")
    with RawRegistrar((LOCALHOST, double.sip_port)) as client:
        bad = client.register("101", "not-it", algorithm="MD5")
    double.finish()
    assert good.challenge is not None
    assert good.challenge.status == 401
    assert good.status == 200, good.describe()
    assert bad.status == 403, bad.describe()


def test_baresip_registers_against_a_registrar_double(
    sipp: Sipp, baresip_factory: BaresipFactory
) -> None:
    double = registrar_double(sipp, password="secret101")
    phone = baresip_factory(
        "101",
        account=(
            f"<sip:101@{LOCALHOST}:{double.sip_port}>;auth_user=101;auth_pass=secret101"
            ";regint=300;answermode=auto"
        ),
    )
    registrar = double.finish()
    assert registrar.returncode == 0, registrar.describe()
    wait_until(phone.is_registered, timeout=5, what="reginfo OK")
    first_register = next(m for m in registrar.messages if m.first_line.startswith("REGISTER"))
    assert "baresip" in first_register.header("User-Agent")[0]


def test_sipp_message_log_is_split_into_messages() -> None:
    log = textwrap.dedent(
        """\
        ----------------------------------------------- 2024-01-01 10:00:00.000000
        UDP message sent (20 bytes):

        OPTIONS sip:a SIP/2.0
        Via: SIP/2.0/UDP x

        ----------------------------------------------- 2024-01-01 10:00:00.100000
        TCP message received [30] bytes :

        SIP/2.0 200 OK
        Allow: INVITE, OPTIONS
        Allow: REGISTER

        """
    )
    sent, received = parse_sipp_message_log(log)
    assert (sent.direction, sent.transport, sent.first_line) == (
        "sent",
        "UDP",
        "OPTIONS sip:a SIP/2.0",
    )
    assert sent.status is None
    assert (received.direction, received.transport, received.status) == ("received", "TCP", 200)
    assert received.header("allow") == ["INVITE, OPTIONS", "REGISTER"]


def test_free_port_block_hands_out_distinct_free_ports() -> None:
    first = free_port_block(4)
    second = free_port_block(4)
    assert not set(range(first, first + 4)) & set(range(second, second + 4))
    assert all(port_is_free(port) for port in range(second, second + 4))


def test_free_port_block_finds_the_one_gap_left_in_a_crowded_range() -> None:
    # A long run has handed out most of the range: only ports low+40 .. low+59 are left.
    low = free_port_block(100)
    gap = range(low + 40, low + 60)
    peers._ports_handed_out.difference_update((LOCALHOST, port) for port in gap)
    assert free_port_block(20, low=low, high=low + 100) == low + 40
    with pytest.raises(RuntimeError, match="no block of 1 free ports"):
        free_port_block(1, low=low, high=low + 100)


def test_single_ports_do_not_cut_the_range_into_small_gaps() -> None:
    # Hundreds of phones' ports, then a server's media range of 201: the singles are
    # handed out side by side, so a large block still fits in a range of 1,200.
    low = free_port_block(1200)
    peers._ports_handed_out.difference_update((LOCALHOST, port) for port in range(low, low + 1200))
    singles = [free_port_block(1, low=low, high=low + 1200) for _ in range(300)]
    assert len(set(singles)) == 300
    assert free_port_block(201, low=low, high=low + 1200) >= low


def test_stop_process_kills_a_process_group_that_ignores_sigterm() -> None:
    script = "trap '' TERM; sleep 60 & wait; sleep 60"
    proc = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    time.sleep(0.2)
    outcome = stop_process(proc, grace=0.5)
    assert outcome.killed
    assert outcome.returncode == -signal.SIGKILL
    # Killed members may linger briefly as zombies until their new parent reaps them.
    wait_until(lambda: not live_group_members(proc.pid), timeout=3, what="an empty process group")


def live_group_members(pgid: int) -> list[int]:
    """Pids in process group ``pgid`` that are not zombies (from /proc)."""
    members = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(stat_file.parent.name))
    return members


FAKE_SERVER = """\
#!{python}
import http.server, sys, signal
argv = sys.argv[1:]
if "{mode}" == "crash":
    print("fatal: cannot open the database", flush=True)
    sys.exit(3)
host, port = argv[argv.index("--http") + 1].rsplit(":", 1)
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
    def log_message(self, *args):
        pass
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("ready", argv, flush=True)
http.server.HTTPServer((host, int(port)), Health).serve_forever()
"""


def fake_ringfort(directory: Path, mode: str) -> Path:
    path = directory / f"ringfort-{mode}"
    path.write_text(FAKE_SERVER.format(python=sys.executable, mode=mode))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_ringfort_server_waits_for_healthz_and_stops_gracefully(tmp_path: Path) -> None:
    server = RingfortServer(
        data_dir=tmp_path / "data",
        executable=fake_ringfort(tmp_path, "serve"),
        env={"RINGFORT_REGISTRAR__MIN_EXPIRES": "1"},
    )
    try:
        server.start()
        assert server.alive
        assert "--sip" in server.log()
        assert server.sip_address in server.log()
        first_pid = server.pid
        server.restart()
        assert server.pid != first_pid
    finally:
        outcome = server.stop()
    assert outcome is not None
    assert not outcome.killed
    assert outcome.returncode == 0
    assert not server.alive


def test_ringfort_server_start_fails_with_the_log_when_the_process_exits(
    tmp_path: Path,
) -> None:
    server = RingfortServer(data_dir=tmp_path / "data", executable=fake_ringfort(tmp_path, "crash"))
    with pytest.raises(ServerStartError, match="cannot open the database"):
        server.start()
    assert not server.alive
