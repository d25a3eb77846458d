"""REST routes of a supervisor's actions: log agents in and out of queues, pause and unpause them.

They change the store as ``ringfort queue add-agent``/``remove-agent``/``pause``
do (with the queue log line in the same transaction); the running call centre
picks the change up within a second.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from ringfort.api.access import require_queue
from ringfort.services.database import Database
from ringfort.services.queue_directory import QueueDirectoryService
from ringfort.services.queues import QueueService

__all__ = ["supervisor_routes"]


class Login(BaseModel):
    """Where the agent takes the queue's calls."""

    phone: str = Field(description="The extension the agent is logged in at.", min_length=1)
    penalty: int | None = Field(default=None, ge=0, description="Lower rings first.")


class Pause(BaseModel):
    """A pause, with its reason code."""

    reason: str = Field(description="Why (lunch, training, ...): it goes into the queue log.")
    queue: str | None = Field(default=None, description="One queue; every queue when left out.")


class Unpause(BaseModel):
    """The end of a pause."""

    queue: str | None = Field(default=None, description="One queue; every queue when left out.")


def _member(member: Any) -> dict[str, Any]:
    return asdict(member)


def supervisor_routes(db: Database) -> APIRouter:
    """``PUT``/``DELETE /api/v1/queues/{queue}/agents/{agent}`` and
    ``POST /api/v1/agents/{agent}/pause`` and ``/unpause``."""
    router = APIRouter(tags=["call centre"])
    directory = QueueDirectoryService(db=db)

    @router.put("/api/v1/queues/{queue}/agents/{agent}")
    async def log_in(queue: str, agent: str, body: Login, request: Request) -> dict[str, Any]:
        """Log the agent in to the queue at a phone (ADDMEMBER), or move them to it."""
        require_queue(request, queue, "logging an agent in")
        if body.penalty is not None:
            await QueueService(db=db).set_penalty(queue, agent, body.penalty)
        return _member(await directory.log_in(queue, agent, body.phone, by_agent=False))

    @router.delete("/api/v1/queues/{queue}/agents/{agent}")
    async def log_out(queue: str, agent: str, request: Request) -> dict[str, Any]:
        """Log the agent out of the queue (REMOVEMEMBER)."""
        require_queue(request, queue, "logging an agent out")
        member = await directory.log_out(queue, agent, by_agent=False)
        if member is None:
            raise HTTPException(404, f"agent {agent} is not logged in to {queue}")
        return _member(member)

    @router.post("/api/v1/agents/{agent}/pause")
    async def pause(agent: str, body: Pause, request: Request) -> list[dict[str, Any]]:
        """Pause the agent (PAUSE with the reason) in one queue or all of theirs; the queues
        where the pause changed something are returned."""
        require_queue(request, body.queue, "pausing an agent")
        return [_member(m) for m in await directory.pause(body.queue, agent, body.reason)]

    @router.post("/api/v1/agents/{agent}/unpause")
    async def unpause(agent: str, body: Unpause, request: Request) -> list[dict[str, Any]]:
        """End the agent's pause (UNPAUSE) in one queue or all of theirs."""
        require_queue(request, body.queue, "unpausing an agent")
        return [_member(m) for m in await directory.unpause(body.queue, agent)]

    return router
