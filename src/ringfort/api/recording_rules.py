"""REST routes of recording rules: which calls are recorded.

The same service the running node asks on every call, so a rule added or
deleted here applies to the next call at once.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field

from ringfort.api.errors import ERROR_RESPONSES
from ringfort.api.listing import field_of, list_query, page_body
from ringfort.api.models import Body
from ringfort.errors import NotFoundError
from ringfort.services.paging import PageRequest, page_of
from ringfort.services.recording_rules import RecordingRuleRecord, RecordingRuleService

__all__ = ["recording_rule_routes"]

SORTABLE = ("id", "kind", "target", "direction", "created_at")
SEARCHED = ("kind", "target", "direction")
MAX_RULE_ID = 2**62
"""Larger ids are none of ours, and would not fit the database's integer."""


class NewRule(Body):
    """A recording rule."""

    kind: str = Field(
        max_length=16,
        description="extension (its calls), number (calls to it) or prefix (calls to numbers"
        " starting with it).",
    )
    target: str = Field(max_length=40, description="The extension, number or prefix.")
    direction: str = Field(
        default="both",
        max_length=8,
        description="For an extension: in, out or both. Number and prefix rules: both.",
    )


def _rule(rule: RecordingRuleRecord) -> dict[str, Any]:
    return {**asdict(rule), "description": rule.describe()}


def recording_rule_routes(service: RecordingRuleService) -> APIRouter:
    """``/api/v1/recording-rules``: add, list, show, delete."""
    router = APIRouter(tags=["recording"], responses=ERROR_RESPONSES)
    listing = list_query(SORTABLE, default="id", text=SEARCHED)

    @router.get("/api/v1/recording-rules")
    async def rules(page: PageRequest = Depends(listing)) -> dict[str, Any]:
        """Recording rules, oldest first."""
        found = page_of(
            await service.list(), page, field=field_of, sortable=SORTABLE, text_fields=SEARCHED
        )
        return page_body(found, page, _rule)

    @router.post("/api/v1/recording-rules", status_code=201)
    async def add(body: NewRule) -> dict[str, Any]:
        """Add a rule; 409 when the same rule exists."""
        return _rule(await service.add(body.kind, body.target, body.direction))

    @router.get("/api/v1/recording-rules/{rule_id}")
    async def rule(rule_id: int) -> dict[str, Any]:
        """One rule."""
        for found in await service.list():
            if found.id == rule_id:
                return _rule(found)
        raise NotFoundError(f"recording rule {rule_id} does not exist")

    @router.delete("/api/v1/recording-rules/{rule_id}", status_code=204)
    async def delete(rule_id: int) -> Response:
        """Delete a rule."""
        if not 0 < rule_id <= MAX_RULE_ID:
            raise NotFoundError(f"recording rule {rule_id} does not exist")
        await service.delete(rule_id)
        return Response(status_code=204)

    return router
