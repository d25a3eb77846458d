"""The HTTP application: health probes, metrics and the REST API, one router per resource.

Routes call services only; the runtime hands them in, so the app holds no
globals and a test can build one around any services it likes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ringfort import __version__
from ringfort.api.access import AccessMiddleware, require_queue, scope_of
from ringfort.api.agents import agent_routes
from ringfort.api.auth import auth_routes
from ringfort.api.calls import call_routes
from ringfort.api.cdr import cdr_routes
from ringfort.api.dids import did_routes
from ringfort.api.errors import install_error_answers
from ringfort.api.extensions import extension_routes
from ringfort.api.loop_share import LoopShareMiddleware
from ringfort.api.me import me_routes
from ringfort.api.menus import menu_routes
from ringfort.api.metrics import metrics_routes
from ringfort.api.queues import queue_routes
from ringfort.api.recording_rules import recording_rule_routes
from ringfort.api.recordings import recording_routes
from ringfort.api.reports import report_routes
from ringfort.api.supervisor import supervisor_routes
from ringfort.api.timeconditions import time_condition_routes
from ringfort.api.voicemail import voicemail_routes
from ringfort.services.audit import AuditService
from ringfort.services.calls import CallService
from ringfort.services.cdr import CdrService
from ringfort.services.database import Database
from ringfort.services.dids import DidService
from ringfort.services.extensions import ExtensionService
from ringfort.services.ivr import IvrService
from ringfort.services.live import LiveFeed
from ringfort.services.metrics import Metric
from ringfort.services.queue_directory import QueueDirectoryService
from ringfort.services.queues import AgentService, QueueService
from ringfort.services.recording_rules import RecordingRuleService
from ringfort.services.recordings import RecordingService
from ringfort.services.status import StatusService
from ringfort.services.timecond import TimeConditionService
from ringfort.services.users import UserService
from ringfort.services.voicemail import VoicemailService
from ringfort.web.routes import mount_web

KEEPALIVE_SECONDS = 15.0
"""A comment line this often keeps proxies from closing a quiet event stream."""


def create_app(
    *,
    status: StatusService,
    sip_ready: Callable[[], bool],
    live: Callable[[], dict[str, Any]] | None = None,
    callcentre: LiveFeed | None = None,
    db: Database | None = None,
    voicemail: VoicemailService | None = None,
    users: UserService | None = None,
    audit: AuditService | None = None,
    extensions: ExtensionService | None = None,
    recording_rules: RecordingRuleService | None = None,
    recordings: RecordingService | None = None,
    calls: CallService | None = None,
    metrics: Callable[[], Iterable[Metric]] | None = None,
) -> FastAPI:
    """Build the FastAPI app around the services of one running node.

    ``live`` gives what only the running process knows (calls in progress,
    media ports in use); it is merged into ``/api/v1/status``. ``callcentre``
    serves the live state of queues and agents; ``db`` is the store behind the
    reports, the queue-log export and the supervisor's actions, and of the configuration
    (extensions, agents, queues, menus, time conditions, recording rules, call records);
    ``voicemail`` serves the mailboxes and their messages.

    ``extensions`` and ``recording_rules`` replace the ones built on ``db`` (the node
    hands in its own, so that a change reaches its caches at once); ``recordings``
    serves the recorded calls, ``calls`` the calls in progress, and ``metrics`` the
    families ``/metrics`` shows.
    With ``users`` and ``audit`` the API is guarded by logins and roles and its
    changes are logged (`ringfort.api.access`); without them (a test of one router)
    it is open.
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

    if callcentre is not None:
        _live_routes(app, callcentre)
    if db is not None:
        app.include_router(report_routes(db))
        app.include_router(supervisor_routes(db))
    if voicemail is not None:
        app.include_router(voicemail_routes(voicemail))
    extensions = extensions or (ExtensionService(db=db) if db is not None else None)
    if db is not None and extensions is not None:
        app.include_router(extension_routes(extensions))
        app.include_router(agent_routes(AgentService(db=db)))
        app.include_router(queue_routes(QueueService(db=db), QueueDirectoryService(db=db)))
        app.include_router(menu_routes(IvrService(db=db)))
        app.include_router(time_condition_routes(TimeConditionService(db=db)))
        app.include_router(recording_rule_routes(recording_rules or RecordingRuleService(db=db)))
        app.include_router(cdr_routes(CdrService(db=db)))
        app.include_router(did_routes(DidService(db=db)))
    if recordings is not None:
        app.include_router(recording_routes(recordings))
    if calls is not None:
        app.include_router(call_routes(calls))
    if metrics is not None:
        app.include_router(metrics_routes(metrics))
    if users is not None and audit is not None:
        app.include_router(auth_routes(users, audit))
        if db is not None and voicemail is not None and extensions is not None:
            app.include_router(me_routes(db, voicemail, callcentre, extensions))
        app.add_middleware(AccessMiddleware, users=users, audit=audit)
        mount_web(app)
    app.add_middleware(LoopShareMiddleware)  # the outermost: before any work on a request
    install_error_answers(app)
    return app


def _live_routes(app: FastAPI, feed: LiveFeed) -> None:
    """The call centre as it happens: snapshots, and a Server-Sent Events stream. A supervisor
    limited to some queues sees those queues and their agents only."""

    @app.get("/api/v1/live", tags=["call centre"], response_model=dict[str, Any])
    async def live_all(request: Request) -> Response:
        """Every queue (waiting callers with their wait, agents, answered and lost today,
        service level today) and every agent (state, time in state, current caller, queues).
        Waits and times in state may be up to half a second old."""
        return Response(feed.document(scope_of(request)), media_type="application/json")

    @app.get("/api/v1/live/queues/{name}", tags=["call centre"])
    async def live_queue(name: str, request: Request) -> dict[str, Any]:
        """One queue now."""
        require_queue(request, name, "the live state")
        found = feed.queue(name)
        if found is None:
            raise HTTPException(
                404, f"queue {name!r} has had no caller or agent since the server started"
            )
        return found

    @app.get("/api/v1/live/agents/{number}", tags=["call centre"])
    async def live_agent(number: str, request: Request) -> dict[str, Any]:
        """One agent now."""
        visible = feed.visible(feed.snapshot(), scope_of(request))["agents"]
        found: dict[str, Any] | None = next(
            (agent for agent in visible if agent["agent"] == number), None
        )
        if found is None:
            raise HTTPException(404, f"agent {number!r} is not known to the running server")
        return found

    @app.get("/api/v1/live/events", tags=["call centre"])
    async def live_events(request: Request) -> StreamingResponse:
        """Server-Sent Events: first ``snapshot`` (the whole state), then each ``queue-event``
        (a queue-log line) and ``agent-state`` change as it happens; ``resync`` asks the
        client to fetch ``/api/v1/live`` again after it fell behind."""
        scope = scope_of(request)

        async def stream() -> AsyncIterator[str]:
            async with feed.listen() as listener:
                yield _sse("snapshot", feed.visible(feed.snapshot(), scope))
                while True:
                    try:
                        message = await asyncio.wait_for(listener.get(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        yield ": keepalive\n\n"
                        continue
                    if feed.shows(message, scope):
                        yield _sse(str(message["type"]), message)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )


def _sse(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _as_dict(view: object) -> dict[str, Any]:
    from dataclasses import asdict, is_dataclass

    if is_dataclass(view) and not isinstance(view, type):
        return asdict(view)
    if isinstance(view, dict):
        return view
    raise TypeError(f"cannot serialise {type(view).__name__}")
