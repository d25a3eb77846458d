"""REST routes of call detail records: one per call leg, Asterisk's fields.

The same service as ``ringfort cdr``; the filtering, sorting and paging are done
by the database, so a page costs the same however many records there are.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from ringfort.api.errors import ERROR_RESPONSES
from ringfort.api.listing import list_query, page_body
from ringfort.errors import ValidationError
from ringfort.services.cdr import CDR_SEARCHED, CDR_SORTABLE, CdrFilter, CdrService
from ringfort.services.paging import PageRequest

__all__ = ["cdr_routes", "record_filter"]

SinceParam = Annotated[
    datetime | None,
    Query(description="Calls that started at or after this ISO 8601 time (UTC without offset)."),
]
UntilParam = Annotated[
    datetime | None,
    Query(description="Calls that started before this ISO 8601 time (UTC without offset)."),
]
SrcParam = Annotated[str | None, Query(max_length=80, description="The calling number, exactly.")]
DstParam = Annotated[str | None, Query(max_length=80, description="The called number, exactly.")]
DispositionParam = Annotated[
    str | None,
    Query(
        max_length=16,
        description="ANSWERED, NO ANSWER, BUSY, FAILED or CANCELLED (any case).",
    ),
]


def _utc(value: datetime | None, field: str) -> datetime | None:
    """``value`` in UTC; a time without an offset is taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValidationError(f"{field} is out of range", field=field) from None


def record_filter(
    since: SinceParam = None,
    until: UntilParam = None,
    src: SrcParam = None,
    dst: DstParam = None,
    disposition: DispositionParam = None,
) -> CdrFilter:
    """The filter query parameters of call records and recordings."""
    return CdrFilter(
        since=_utc(since, "since"),
        until=_utc(until, "until"),
        src=src,
        dst=dst,
        disposition=disposition,
    )


def cdr_routes(service: CdrService) -> APIRouter:
    """``GET /api/v1/cdr`` and ``/api/v1/cdr/{uniqueid}``."""
    router = APIRouter(tags=["cdr"], responses=ERROR_RESPONSES)
    listing = list_query(CDR_SORTABLE, default="start", text=CDR_SEARCHED, newest_first=True)

    @router.get("/api/v1/cdr")
    async def records(
        where: Annotated[CdrFilter, Depends(record_filter)],
        page: PageRequest = Depends(listing),
    ) -> dict[str, Any]:
        """Call records, newest first unless ``order`` and ``direction`` say otherwise."""
        return page_body(await service.search(where, page), page)

    @router.get("/api/v1/cdr/{uniqueid}")
    async def record(uniqueid: str) -> dict[str, Any]:
        """One call leg's record."""
        return asdict(await service.get(uniqueid))

    return router
