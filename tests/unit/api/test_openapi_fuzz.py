"""The OpenAPI document fuzzed with schemathesis: no request, however odd, gets a 5xx.

The app runs in a real HTTP server (uvicorn on 127.0.0.1, its own thread and event
loop) over a real SQLite database holding one of each object, so the generated
requests reach the services and the store, not only the request checks. A few
examples per operation keep the run short.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

from ringfort.api.app import create_app
from ringfort.services.calls import CallService
from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService
from ringfort.services.metrics import Metric
from ringfort.services.queues import AgentService, QueueService
from ringfort.services.recording_rules import RecordingRuleService
from ringfort.services.recordings import RecordingService
from ringfort.services.status import StatusService

EXAMPLES_PER_OPERATION = 12


class NoCalls:
    """A call table with nothing in progress: hanging up finds no call."""

    def calls(self) -> list[Any]:
        return []

    def hang_up(self, uniqueid: str, *, cause: str = "administrator") -> bool:
        return False


async def _seed(db: Database) -> None:
    await ExtensionService(db=db).add("101", "Desk")
    await AgentService(db=db).add("1", "Anna", "1111")
    await QueueService(db=db).add("sales", number="500")
    await QueueService(db=db).set_penalty("sales", "1", 1)
    await RecordingRuleService(db=db).add("number", "5")


class _Server:
    """The API in uvicorn, in a thread of its own."""

    def __init__(self, data: Path) -> None:
        self._data = data
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port: int = self._sock.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        db = Database(url=f"sqlite+aiosqlite:///{self._data / 'ringfort.db'}")
        await db.open()
        try:
            await _seed(db)
            app = create_app(
                status=StatusService(db=db),
                sip_ready=lambda: True,
                db=db,
                recordings=RecordingService(db=db, directory=self._data / "recordings"),
                calls=CallService(NoCalls()),
                metrics=lambda: [Metric.single("ringfort_active_calls", "gauge", "Calls.", 0)],
            )
            config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
            self._server = uvicorn.Server(config)
            self._ready.set()
            await self._server.serve(sockets=[self._sock])
        finally:
            self._ready.set()
            await db.close()

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(30), "the API server did not start"

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(30)
        self._sock.close()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = _Server(tmp_path_factory.mktemp("fuzz"))
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def _server_errors(base_url: str, operation: Any, mode: GenerationMode) -> list[str]:
    """Requests to ``operation`` answered with a 5xx (hypothesis stops at the first)."""
    found: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, timeout=10)
        if response.status_code >= 500:
            found.append(
                f"{response.status_code} for {case.as_curl_command()}\n{response.text[:300]}"
            )
            raise AssertionError(found[-1])

    # A 5xx is recorded (the last one is the simplest, hypothesis shrinks it); an
    # operation with nothing to send wrong (no parameters, no body) has no negative case.
    with contextlib.suppress(AssertionError, Unsatisfiable):
        run()
    return found[-1:]


def test_no_request_gets_a_server_error(base_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json", wait_for_schema=10)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/v1/live/events":
            continue  # an event stream never ends
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += _server_errors(base_url, operation, mode)
    assert operations > 40
    assert not failures, "\n\n".join(failures)
