"""REST routes of the calls in progress on this node: list them, hang one up."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Response

from ringfort.api.errors import ERROR_RESPONSES
from ringfort.api.listing import field_of, list_query, page_body
from ringfort.services.calls import CALL_SEARCHED, CALL_SORTABLE, CallService
from ringfort.services.paging import PageRequest, page_of

__all__ = ["call_routes"]


def call_routes(service: CallService) -> APIRouter:
    """``GET /api/v1/calls``, ``GET`` and ``DELETE /api/v1/calls/{uniqueid}``."""
    router = APIRouter(tags=["calls"], responses=ERROR_RESPONSES)
    listing = list_query(CALL_SORTABLE, text=CALL_SEARCHED)

    @router.get("/api/v1/calls")
    async def calls(page: PageRequest = Depends(listing)) -> dict[str, Any]:
        """Calls in progress, oldest first: ringing or answered, with who and since when."""
        found = page_of(
            service.list(), page, field=field_of, sortable=CALL_SORTABLE, text_fields=CALL_SEARCHED
        )
        return page_body(found, page)

    @router.get("/api/v1/calls/{uniqueid}")
    async def call(uniqueid: str) -> dict[str, Any]:
        """One call in progress."""
        return asdict(service.get(uniqueid))

    @router.delete("/api/v1/calls/{uniqueid}", status_code=204)
    async def hang_up(uniqueid: str) -> Response:
        """Hang the call up: both phones get a BYE (a ringing call is cancelled); its CDR says
        ``hangup_by`` system, cause administrator."""
        service.hang_up(uniqueid)
        return Response(status_code=204)

    return router
