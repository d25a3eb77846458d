"""REST routes of DIDs: inbound numbers and where their calls go.

The same service as ``ringfort did``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field

from ringfort.api.errors import ERROR_RESPONSES
from ringfort.api.listing import field_of, list_query, page_body
from ringfort.api.models import Body
from ringfort.services.dids import DidService
from ringfort.services.paging import PageRequest, page_of

__all__ = ["did_routes"]

SORTABLE = ("number", "destination", "description")
SEARCHED = ("number", "destination", "description")


class NewDid(Body):
    """A DID to add."""

    number: str = Field(max_length=40, description="The number callers dial: 1 to 20 digits.")
    destination: str = Field(
        max_length=160, description="Where its calls go: extension:101, ivr:main, queue:sales, ..."
    )
    description: str = Field(default="", max_length=320, description="What it is for.")


class DidChange(Body):
    """What changes of a DID; what is left out stays."""

    destination: str | None = Field(default=None, max_length=160, description="Where calls go.")
    description: str | None = Field(default=None, max_length=320, description="What it is for.")


def did_routes(service: DidService) -> APIRouter:
    """``/api/v1/dids``: add, list, show, change, delete."""
    router = APIRouter(tags=["dids"], responses=ERROR_RESPONSES)
    listing = list_query(SORTABLE, default="number", text=SEARCHED)

    @router.get("/api/v1/dids")
    async def dids(page: PageRequest = Depends(listing)) -> dict[str, Any]:
        """DIDs and where their calls go."""
        found = page_of(
            await service.list(), page, field=field_of, sortable=SORTABLE, text_fields=SEARCHED
        )
        return page_body(found, page)

    @router.post("/api/v1/dids", status_code=201)
    async def add(body: NewDid) -> dict[str, Any]:
        """Add a DID; 409 when the number is taken, 400 naming the field otherwise."""
        return asdict(await service.add(body.number, body.destination, body.description))

    @router.get("/api/v1/dids/{number}")
    async def did(number: str) -> dict[str, Any]:
        """One DID."""
        return asdict(await service.get(number))

    @router.patch("/api/v1/dids/{number}")
    async def change(number: str, body: DidChange) -> dict[str, Any]:
        """Change where a DID's calls go, or its description."""
        changed = await service.update(
            number, destination=body.destination, description=body.description
        )
        return asdict(changed)

    @router.delete("/api/v1/dids/{number}", status_code=204)
    async def delete(number: str) -> Response:
        """Delete a DID."""
        await service.remove(number)
        return Response(status_code=204)

    return router
