"""The HTTP application: health probes and the first REST endpoints.

Routes call services only; the runtime hands them in, so the app holds no
globals and a test can build one around any services it likes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from ringfort import __version__
from ringfort.services.status import StatusService


def create_app(
    *,
    status: StatusService,
    sip_ready: Callable[[], bool],
    live: Callable[[], dict[str, Any]] | None = None,
) -> FastAPI:
    """Build the FastAPI app around the services of one running node.

    ``live`` gives what only the running process knows (calls in progress,
    media ports in use); it is merged into ``/api/v1/status``.
    """
    app = FastAPI(
        title="Ringfort",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """Readiness: SIP is listening and the database answers."""
        ready = sip_ready()
        return JSONResponse(
            {"status": "ready" if ready else "starting"}, status_code=200 if ready else 503
        )

    @app.get("/api/v1/status", tags=["status"])
    async def system_status() -> dict[str, Any]:
        """Registrations and blocked addresses, as ``ringfort status --json`` shows them,
        plus calls in progress and media ports in use."""
        now = time.time()
        registrations = await status.registrations(now)
        blocked = await status.blocked(now)
        return {
            "version": __version__,
            "registrations": [_as_dict(r) for r in registrations],
            "blocked": [_as_dict(b) for b in blocked],
            **(live() if live is not None else {}),
        }

    return app


def _as_dict(view: object) -> dict[str, Any]:
    from dataclasses import asdict, is_dataclass

    if is_dataclass(view) and not isinstance(view, type):
        return asdict(view)
    if isinstance(view, dict):
        return view
    raise TypeError(f"cannot serialise {type(view).__name__}")
