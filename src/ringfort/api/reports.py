"""REST routes of the call-centre reports and of the queue log export."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from ringfort.api.access import require_queue
from ringfort.reports.cache import REPORT_TABLES, ReportCache
from ringfort.reports.catalogue import REPORTS, parse_period, parse_zone, run_report, typed_query
from ringfort.reports.export import export_lines
from ringfort.reports.model import MAX_LIMIT, Report
from ringfort.reports.render import to_csv
from ringfort.services.database import Database

__all__ = ["report_routes"]

REPORTS_AT_ONCE = 2
"""Reports made at the same time; more wait their turn. Each one's queries run in a
database thread of this process, which competes for the CPU with the event loop that
relays the calls' media and answers the live panel: under bench/api_load.sh, ten at once
left the live panel half the requests and the media several times the late packets."""

FromParam = Annotated[
    str | None,
    Query(
        alias="from",
        description="A year (2026), month (2026-05), date (2026-05-01) or time"
        " (2026-05-01T08:00). Default: today.",
    ),
]
ToParam = Annotated[
    str | None,
    Query(
        alias="to",
        description="A year, month or date is included whole; a time is the exclusive end."
        " Default: the end of the `from` day, month or year.",
    ),
]
TzParam = Annotated[
    str | None,
    Query(description="IANA time zone of dates and of the times returned. Default: the server's."),
]


def report_routes(db: Database) -> APIRouter:
    """``GET /api/v1/reports``, ``/api/v1/reports/{name}`` and ``/api/v1/queue-log``."""
    router = APIRouter(tags=["reports"])
    cache = ReportCache(
        lambda name, query: run_report(db, name, query),
        lambda: db.writes(REPORT_TABLES),
        at_once=REPORTS_AT_ONCE,
    )

    @router.get("/api/v1/reports")
    async def list_reports() -> list[dict[str, str]]:
        """The reports there are, by name."""
        return [{"name": spec.name, "summary": spec.summary} for spec in REPORTS.values()]

    @router.get("/api/v1/reports/{name}", response_model=None)
    async def report(
        request: Request,
        name: str,
        start: FromParam = None,
        end: ToParam = None,
        queue: Annotated[str | None, Query(description="A queue's name.")] = None,
        agent: Annotated[str | None, Query(description="An agent's number.")] = None,
        caller: Annotated[str | None, Query(description="The caller's number.")] = None,
        tz: TzParam = None,
        by: Annotated[
            str, Query(description="distribution: hour, hour-of-day, day, weekday or month.")
        ] = "day",
        service_level: Annotated[
            int | None,
            Query(ge=1, le=3600, description="service-level: the target wait in seconds."),
        ] = None,
        format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
        limit: Annotated[
            int | None,
            Query(ge=1, le=MAX_LIMIT, description="answered, lost, sessions: a page of rows."),
        ] = None,
        offset: Annotated[int, Query(ge=0, description="Rows skipped before the page.")] = 0,
    ) -> Response:
        """One report for a period, as JSON (columns, rows, summary) or CSV."""
        if name not in REPORTS:
            raise HTTPException(404, f"no report {name!r}; the reports are {', '.join(REPORTS)}")
        require_queue(request, queue, "reports")
        # A bad period, zone or grouping is a ValidationError: the app answers it 400.
        query = typed_query(
            start, end, tz, queue=queue, agent=agent, caller=caller,
            service_level=service_level, by=by, limit=limit, offset=offset,
        )  # fmt: skip
        if format == "json":
            return Response(await cache.rendered(name, query, _json), media_type="application/json")
        filename = f"{name}-{query.local(query.start).date().isoformat()}.csv"
        return PlainTextResponse(
            to_csv(await cache.get(name, query)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @router.get("/api/v1/queue-log")
    async def queue_log(
        request: Request,
        start: FromParam = None,
        end: ToParam = None,
        queue: Annotated[str | None, Query(description="A queue's name.")] = None,
        tz: TzParam = None,
        everything: Annotated[
            bool, Query(alias="all", description="The whole log, whatever from and to say.")
        ] = False,
    ) -> StreamingResponse:
        """The queue log in Asterisk's text format, one line per event, streamed."""
        require_queue(request, queue, "the queue log")
        first, last = (None, None) if everything else parse_period(start, end, parse_zone(tz))
        return StreamingResponse(
            export_lines(db, start=first, end=last, queue=queue),
            media_type="text/plain; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="queue_log"'},
        )

    return router


def _json(report: Report) -> bytes:
    return json.dumps(jsonable_encoder(report.as_json()), separators=(",", ":")).encode()
