"""Test-side pieces of the integration harness: paths, extension sets, the server factory.

Fixtures live in conftest.py; test modules import these names from here (a
module of its own name, so no other conftest.py can shadow it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
from peers import Baresip, RingfortServer, ServerStartError, ringfort_executable, tool_path

HERE = Path(__file__).parent
SCENARIO_DIR = HERE / "sipp"
VECTOR_DIR = HERE.parent / "vectors" / "rfc4475"


def require_tool(name: str) -> str:
    """Path of ``name``; skip the test without it (fail under REQUIRE_SIP_PEERS=1)."""
    found = tool_path(name)
    if found is None:
        message = f"{name} is not installed (scripts/test installs it)"
        if os.environ.get("REQUIRE_SIP_PEERS") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


@dataclass(frozen=True)
class Extension:
    """An extension to create before the server starts."""

    number: str
    name: str
    password: str


def extensions(*numbers: str) -> list[Extension]:
    """Extensions with predictable credentials: NUMBER, "User NUMBER", secretNUMBER."""
    return [Extension(number, f"User {number}", f"secret{number}") for number in numbers]


class ServerFactory:
    """Makes RingfortServer instances under one directory and stops them all on close."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.servers: list[RingfortServer] = []

    def __call__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        extensions: Sequence[Extension] = (),
        start: bool = True,
        name: str = "server",
    ) -> RingfortServer:
        """A server with ``env`` settings and ``extensions``, started unless ``start=False``."""
        try:
            executable = ringfort_executable()
        except FileNotFoundError as error:
            pytest.fail(str(error), pytrace=False)
        index = len(self.servers) + 1
        server = RingfortServer(
            data_dir=self.base_dir / f"{name}{index}-data",
            env=env,
            executable=executable,
        )
        self.servers.append(server)
        server.add_extensions([(item.number, item.name, item.password) for item in extensions])
        if start:
            start_or_fail(server)
        return server

    def close(self, *, show_logs: bool) -> None:
        """Stop every server; print their logs when the test failed."""
        for server in self.servers:
            server.stop()
            if show_logs:
                print(f"\n===== {server!r} log (tail)\n{server.log(120)}")


def start_or_fail(server: RingfortServer) -> RingfortServer:
    """Start ``server``; a server that exits or never gets ready fails the test with its log."""
    try:
        return server.start()
    except ServerStartError as error:
        failure = str(error)
    pytest.fail(failure, pytrace=False)


class BaresipFactory(Protocol):
    """Starts one baresip phone."""

    def __call__(
        self,
        name: str,
        *,
        account: str | None = None,
        answermode: str = "manual",
        source_wav: Path | None = None,
        sip_trace: bool = False,
    ) -> Baresip: ...
