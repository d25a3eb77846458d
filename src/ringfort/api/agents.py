"""REST routes of call-centre agents: a number, a name, the PIN they log in with, their own
wrap-up time.

The same service as ``ringfort agent``; a PIN is written, never read back.
Logging agents in and out of queues and pausing them are the supervisor's
routes (``api/supervisor.py``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field

from ringfort.api.errors import ERROR_RESPONSES
from ringfort.api.listing import field_of, list_query, page_body
from ringfort.api.models import Body
from ringfort.services.paging import PageRequest, page_of
from ringfort.services.queues import AgentService

__all__ = ["agent_routes"]

SORTABLE = ("number", "name", "wrapup")
SEARCHED = ("number", "name")
MAX_WRAPUP = 86_400.0
"""A day: any longer is a typing mistake, not a rest."""


class NewAgent(Body):
    """An agent to add."""

    number: str = Field(max_length=40, description="The agent's number: 1 to 20 digits.")
    name: str = Field(max_length=160, description="The agent's name (1 to 80 characters).")
    pin: str = Field(
        max_length=32, description="4 to 16 digits, unique: it identifies the agent at a phone."
    )
    wrapup: float | None = Field(
        default=None,
        ge=0,
        le=MAX_WRAPUP,
        description="The agent's own wrap-up seconds in every queue; null: each queue's.",
    )


class AgentChange(Body):
    """What changes of an agent; what is left out stays. ``wrapup`` null: back to each
    queue's wrap-up time."""

    name: str | None = Field(default=None, max_length=160, description="A new name.")
    pin: str | None = Field(default=None, max_length=32, description="A new PIN (4 to 16 digits).")
    wrapup: float | None = Field(
        default=None, ge=0, le=MAX_WRAPUP, description="Own wrap-up seconds; null: the queue's."
    )


def agent_routes(service: AgentService) -> APIRouter:
    """``/api/v1/agents``: add, list, show, change, delete."""
    router = APIRouter(tags=["agents"], responses=ERROR_RESPONSES)
    listing = list_query(SORTABLE, default="number", text=SEARCHED)

    @router.get("/api/v1/agents")
    async def agents(page: PageRequest = Depends(listing)) -> dict[str, Any]:
        """Agents (never their PINs)."""
        found = page_of(
            await service.list(), page, field=field_of, sortable=SORTABLE, text_fields=SEARCHED
        )
        return page_body(found, page)

    @router.post("/api/v1/agents", status_code=201)
    async def add(body: NewAgent) -> dict[str, Any]:
        """Add an agent; 409 when the number or the PIN is taken."""
        return asdict(await service.add(body.number, body.name, body.pin, wrapup=body.wrapup))

    @router.get("/api/v1/agents/{number}")
    async def agent(number: str) -> dict[str, Any]:
        """One agent."""
        return asdict(await service.get(number))

    @router.patch("/api/v1/agents/{number}")
    async def change(number: str, body: AgentChange) -> dict[str, Any]:
        """Change an agent's name, PIN or own wrap-up time."""
        clear = "wrapup" in body.model_fields_set and body.wrapup is None
        changed = await service.update(
            number, name=body.name, pin=body.pin, wrapup=body.wrapup, clear_wrapup=clear
        )
        return asdict(changed)

    @router.delete("/api/v1/agents/{number}", status_code=204)
    async def delete(number: str) -> Response:
        """Delete an agent and their places in queues."""
        await service.delete(number)
        return Response(status_code=204)

    return router
