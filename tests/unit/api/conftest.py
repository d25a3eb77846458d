"""The REST API over a real SQLite database: one app with every router, as a node builds it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from ringfort.api.app import create_app
from ringfort.services.calls import CallService
from ringfort.services.database import Database
from ringfort.services.metrics import Metric
from ringfort.services.recordings import RecordingService
from ringfort.services.status import StatusService

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@dataclass
class FakeCalls:
    """The B2BUA's call table as the call service reads it: plain objects with a call's fields."""

    table: dict[str, Any] = field(default_factory=dict)
    hung_up: list[tuple[str, str]] = field(default_factory=list)

    def add(self, uniqueid: str, src: str, dst: str, *, answered: bool = True) -> None:
        self.table[uniqueid] = SimpleNamespace(
            uniqueid=uniqueid,
            src=src,
            dst=dst,
            clid=f'"Desk" <{src}>',
            start=NOW,
            answer=NOW if answered else None,
            state=SimpleNamespace(value="answered" if answered else "ringing"),
            held_by=None,
            recording=None,
            bridge=None,
            ended=False,
        )

    def calls(self) -> list[Any]:
        return list(self.table.values())

    def hang_up(self, uniqueid: str, *, cause: str = "administrator") -> bool:
        if self.table.pop(uniqueid, None) is None:
            return False
        self.hung_up.append((uniqueid, cause))
        return True


@pytest.fixture
def recordings_directory(tmp_path: Path) -> Path:
    path = tmp_path / "recordings"
    path.mkdir()
    return path


@pytest.fixture
def fake_calls() -> FakeCalls:
    return FakeCalls()


@pytest.fixture
async def api(
    db: Database, recordings_directory: Path, fake_calls: FakeCalls
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with every router on ``db``."""
    app = create_app(
        status=StatusService(db=db),
        sip_ready=lambda: True,
        db=db,
        recordings=RecordingService(db=db, directory=recordings_directory),
        calls=CallService(fake_calls, now=lambda: NOW),
        metrics=lambda: [Metric.single("ringfort_active_calls", "gauge", "Calls.", 2)],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
