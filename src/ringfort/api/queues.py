"""REST routes of queues as configuration, and of their members (agents with a penalty).

The same services as ``ringfort queue``. Logging a member in at a phone and out
again, and pausing, are the supervisor's routes (``api/supervisor.py``); the
live state of queues is ``/api/v1/live``. The running call centre picks a change
up within a second.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field

from ringfort.api.errors import ERROR_RESPONSES
from ringfort.api.listing import field_of, list_query, page_body
from ringfort.api.models import Body
from ringfort.services.paging import PageRequest, page_of
from ringfort.services.queue_directory import QueueDirectoryService
from ringfort.services.queues import JOIN_RULES, LEAVE_RULES, STRATEGIES, QueueService

__all__ = ["queue_routes"]

SORTABLE = ("name", "number", "strategy", "ring_timeout", "max_wait", "wrapup", "service_level")
SEARCHED = ("name", "number", "strategy", "overflow")
MEMBER_SORTABLE = ("agent", "name", "penalty", "phone", "paused")
MEMBER_SEARCHED = ("agent", "name", "phone", "pause_reason")
NULLABLE = frozenset({"number", "periodic_prompt", "exit_key", "exit_destination"})
"""Settings a null clears; a null for any other means "leave it as it is"."""
DAY = 86_400.0

Seconds = Annotated[float | None, Field(default=None, ge=0, le=DAY)]


class QueueSettings(Body):
    """A queue's settings; what is left out keeps its default (on create) or its value."""

    number: str | None = Field(
        default=None, max_length=20, description="The number callers dial (digits); null: none."
    )
    strategy: str | None = Field(
        default=None,
        max_length=16,
        description=f"How agents are rung: {', '.join(STRATEGIES)}. Default: ringall.",
    )
    ring_timeout: float | None = Field(
        default=None, le=DAY, description="Seconds one attempt rings (more than 0). Default: 15."
    )
    retry_delay: Seconds = Field(default=None, description="Seconds between attempts. Default: 5.")
    wrapup: Seconds = Field(default=None, description="Seconds an agent rests after a call.")
    max_wait: Seconds = Field(
        default=None, description="Seconds before a caller goes to overflow; 0: no limit."
    )
    max_length: int | None = Field(
        default=None, ge=0, le=1_000_000, description="Callers the queue holds; 0: no limit."
    )
    overflow: str | None = Field(
        default=None,
        max_length=140,
        description="Where callers go who wait too long or find the queue full or empty:"
        " extension:101, ivr:main, queue:sales, voicemail:101, hangup. Default: hangup.",
    )
    join_empty: str | None = Field(
        default=None,
        max_length=16,
        description=f"Who must be logged in for a caller to join: {', '.join(JOIN_RULES)}."
        " Default: always.",
    )
    leave_empty: str | None = Field(
        default=None,
        max_length=16,
        description=f"When waiting callers go to overflow: {', '.join(LEAVE_RULES)}."
        " Default: never.",
    )
    announce_position: bool | None = Field(
        default=None, description="Tell callers their position and expected wait."
    )
    announce_first: Seconds = Field(default=None, description="Seconds before the first one.")
    announce_every: Seconds = Field(
        default=None, description="Seconds between announcements; 0: once."
    )
    periodic_prompt: str | None = Field(
        default=None, max_length=64, description="A prompt played to waiting callers."
    )
    periodic_every: Seconds = Field(default=None, description="Seconds between periodic prompts.")
    exit_key: str | None = Field(
        default=None, max_length=1, description="A key (0-9, *, #) that takes a caller out."
    )
    exit_destination: str | None = Field(
        default=None, max_length=140, description="Where the exit key takes the caller."
    )
    record: bool | None = Field(default=None, description="Record every answered call.")
    autopause: int | None = Field(
        default=None, ge=0, le=1000, description="Pause an agent after this many missed rings."
    )
    service_level: int | None = Field(
        default=None,
        le=int(DAY),
        description="Seconds within which an answer counts as in time (at least 1). Default: 20.",
    )

    def changes(self) -> dict[str, Any]:
        """The settings given, as the service takes them."""
        given = self.model_dump(exclude_unset=True, exclude={"name"})
        return {key: value for key, value in given.items() if value is not None or key in NULLABLE}


class NewQueue(QueueSettings):
    """A queue to add."""

    name: str = Field(max_length=64, description="1 to 64 of a-z, 0-9, '-' and '_'.")


class Membership(Body):
    """An agent's place in a queue."""

    penalty: int = Field(default=0, ge=0, le=1000, description="Lower rings first.")


def _queue(config: Any) -> dict[str, Any]:
    found = asdict(config)
    for key in ("overflow", "exit_destination", "strategy", "join_empty", "leave_empty"):
        value = getattr(config, key)
        found[key] = None if value is None else str(value)
    return found


def queue_routes(queues: QueueService, directory: QueueDirectoryService) -> APIRouter:
    """``/api/v1/queues``: add, list, show, change, delete; ``/members``: who answers."""
    router = APIRouter(tags=["queues"], responses=ERROR_RESPONSES)
    listing = list_query(SORTABLE, default="name", text=SEARCHED)
    member_listing = list_query(MEMBER_SORTABLE, text=MEMBER_SEARCHED)

    @router.get("/api/v1/queues")
    async def list_queues(page: PageRequest = Depends(listing)) -> dict[str, Any]:
        """Queues and their settings."""
        rows = [_queue(config) for config in await queues.list()]
        found = page_of(rows, page, field=field_of, sortable=SORTABLE, text_fields=SEARCHED)
        return page_body(found, page)

    @router.post("/api/v1/queues", status_code=201)
    async def add(body: NewQueue) -> dict[str, Any]:
        """Add a queue; 409 when the name or the number is taken."""
        return _queue(await queues.add(body.name, **body.changes()))

    @router.get("/api/v1/queues/{name}")
    async def queue(name: str) -> dict[str, Any]:
        """One queue's settings."""
        return _queue(await queues.get(name))

    @router.patch("/api/v1/queues/{name}")
    async def change(name: str, body: QueueSettings) -> dict[str, Any]:
        """Change some settings; the others stay."""
        changes = body.changes()
        if not changes:
            return _queue(await queues.get(name))
        return _queue(await queues.update(name, **changes))

    @router.delete("/api/v1/queues/{name}", status_code=204)
    async def delete(name: str) -> Response:
        """Delete a queue and its members; refused (409) while something sends calls to it."""
        await queues.delete(name)
        return Response(status_code=204)

    @router.get("/api/v1/queues/{name}/members")
    async def members(name: str, page: PageRequest = Depends(member_listing)) -> dict[str, Any]:
        """The queue's agents, logged in or not: by penalty, then agent."""
        await queues.get(name)  # 404 for no such queue rather than an empty list
        found = page_of(
            await queues.members(name),
            page,
            field=field_of,
            sortable=MEMBER_SORTABLE,
            text_fields=MEMBER_SEARCHED,
        )
        return page_body(found, page)

    @router.put("/api/v1/queues/{name}/members/{agent}")
    async def set_member(name: str, agent: str, body: Membership) -> dict[str, Any]:
        """Make the agent a member of the queue with a penalty (kept across logins), or change
        their penalty. Logging in at a phone is ``PUT /api/v1/queues/{queue}/agents/{agent}``."""
        await queues.set_penalty(name, agent, body.penalty)
        return _member(await queues.members(name), agent)

    @router.delete("/api/v1/queues/{name}/members/{agent}", status_code=204)
    async def remove_member(name: str, agent: str) -> Response:
        """Take the agent out of the queue, logging them out first if they are logged in."""
        await queues.get(name)
        if any(member.agent == agent for member in await queues.members(name)):
            await directory.log_out(name, agent, by_agent=False)
        await queues.remove_member(name, agent)
        return Response(status_code=204)

    return router


def _member(members: list[Any], agent: str) -> dict[str, Any]:
    for member in members:
        if member.agent == agent:
            return asdict(member)
    raise AssertionError(f"agent {agent} was just made a member")
