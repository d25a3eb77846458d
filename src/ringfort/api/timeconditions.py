"""REST routes of time conditions: office hours and holidays choosing where calls go.

A time condition travels as the document ``ringfort timecond show --json``
prints and the YAML files hold, read by the same code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import Field

from ringfort.api.errors import ERROR_RESPONSES
from ringfort.api.listing import field_of, list_query, page_body
from ringfort.api.models import Body
from ringfort.errors import ValidationError
from ringfort.services.ivr_documents import (
    time_condition_from_document,
    time_condition_to_document,
)
from ringfort.services.paging import PageRequest, page_of
from ringfort.services.timecond import MAX_HOLIDAYS, MAX_RULES, TimeConditionService

__all__ = ["time_condition_routes"]

SORTABLE = ("name", "number", "timezone", "match", "nomatch")
SEARCHED = ("name", "number", "timezone", "match", "nomatch")


class TimeConditionFields(Body):
    """A time condition's settings. On PATCH, what is left out stays."""

    number: str | None = Field(
        default=None, max_length=20, description="An internal number that reaches it; null: none."
    )
    timezone: str | None = Field(
        default=None, max_length=64, description="IANA zone of the hours, e.g. Europe/Moscow."
    )
    rules: list[Annotated[str, Field(max_length=100)]] | None = Field(
        default=None,
        max_length=MAX_RULES,
        description="Hours, e.g. ['mon-fri 09:00-18:00', 'sat 10:00-14:00'].",
    )
    holidays: list[Annotated[str, Field(max_length=32)]] | None = Field(
        default=None,
        max_length=MAX_HOLIDAYS,
        description="Whole dates outside the hours, e.g. ['2026-12-31'].",
    )
    match: str | None = Field(
        default=None, max_length=140, description="Where calls go inside the hours."
    )
    nomatch: str | None = Field(
        default=None, max_length=140, description="Where calls go outside them (and on holidays)."
    )


class NewTimeCondition(TimeConditionFields):
    """A time condition to add (``timezone``, ``rules``, ``match`` and ``nomatch`` needed)."""

    name: str = Field(max_length=64, description="1 to 64 of a-z, 0-9, '-' and '_'.")


def time_condition_routes(service: TimeConditionService) -> APIRouter:
    """``/api/v1/timeconditions``: add, list, show, replace, change, delete, check."""
    router = APIRouter(tags=["time conditions"], responses=ERROR_RESPONSES)
    listing = list_query(SORTABLE, default="name", text=SEARCHED)

    @router.get("/api/v1/timeconditions")
    async def conditions(page: PageRequest = Depends(listing)) -> dict[str, Any]:
        """Time conditions, each as its document."""
        documents = [time_condition_to_document(c) for c in await service.list()]
        found = page_of(documents, page, field=field_of, sortable=SORTABLE, text_fields=SEARCHED)
        return page_body(found, page)

    @router.post("/api/v1/timeconditions", status_code=201)
    async def add(body: NewTimeCondition) -> dict[str, Any]:
        """Add a time condition; both destinations must exist, its number must be free."""
        condition = time_condition_from_document(body.model_dump(exclude_unset=True))
        return time_condition_to_document(await service.add(condition))

    @router.get("/api/v1/timeconditions/{name}")
    async def condition(name: str) -> dict[str, Any]:
        """One time condition."""
        return time_condition_to_document(await service.get(name))

    @router.put("/api/v1/timeconditions/{name}")
    async def replace(name: str, body: TimeConditionFields) -> dict[str, Any]:
        """Replace a time condition whole."""
        document = {**body.model_dump(exclude_unset=True), "name": name}
        return time_condition_to_document(
            await service.update(time_condition_from_document(document))
        )

    @router.patch("/api/v1/timeconditions/{name}")
    async def change(name: str, body: TimeConditionFields) -> dict[str, Any]:
        """Change some settings; ``rules`` or ``holidays``, when given, replace the list."""
        document = time_condition_to_document(await service.get(name))
        document.update(body.model_dump(exclude_unset=True))
        return time_condition_to_document(
            await service.update(time_condition_from_document(document))
        )

    @router.delete("/api/v1/timeconditions/{name}", status_code=204)
    async def delete(name: str) -> Response:
        """Delete a time condition; refused (409) while menus or others send calls to it."""
        await service.delete(name)
        return Response(status_code=204)

    @router.get("/api/v1/timeconditions/{name}/check")
    async def check(
        name: str,
        at: Annotated[
            str | None,
            Query(
                max_length=64,
                description="ISO 8601 moment, e.g. 2026-12-31T10:00 (local time in the"
                " condition's zone) or 2026-12-31T07:00Z. Default: now.",
            ),
        ] = None,
    ) -> dict[str, Any]:
        """Where the time condition sends a call now (or at ``at``), and why."""
        when = None
        if at is not None:
            try:
                when = datetime.fromisoformat(at)
            except ValueError:
                raise ValidationError(
                    f"at {at!r} is not an ISO 8601 time; write e.g. 2026-12-31T10:00",
                    field="at",
                ) from None
        try:
            result = await service.check(name, when)
        except OverflowError:
            # Year 1 or 9999 shifted into the condition's zone falls off the calendar.
            raise ValidationError(f"at {at!r} is too far from now", field="at") from None
        return result.record(name)

    return router
