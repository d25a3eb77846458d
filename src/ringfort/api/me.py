"""REST routes of the logged-in user's own things: their agent's queues and pauses, their
calls today, their mailbox, their extension's forwarding and do-not-disturb (the agent's
page uses them; any role may call them).

The user's ``agent`` (number) and ``extension`` say whose they are; a user without
them is told what to ask an admin for.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from ringfort.api.extensions import ForwardingBody
from ringfort.errors import ConflictError, NotFoundError, ValidationError
from ringfort.services.cdr import CdrService
from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService, ExtensionView
from ringfort.services.live import LiveFeed
from ringfort.services.queue_directory import QueueDirectoryService
from ringfort.services.users import UserView
from ringfort.services.voicemail import MessageView, VoicemailService

__all__ = ["me_routes"]


class QueueLogin(BaseModel):
    """Where the agent takes the queue's calls."""

    phone: str | None = Field(None, description="An extension; default: the user's own.")


class MyPause(BaseModel):
    """A pause with its reason."""

    reason: str = Field(description="Why (lunch, training, ...).", min_length=1, max_length=40)
    queue: str | None = Field(None, description="One queue; every queue when left out.")


class Read(BaseModel):
    """A message listened to, or new again."""

    read: bool


def _user(request: Request) -> UserView:
    user: UserView | None = getattr(request.state, "user", None)
    if user is None:
        raise ConflictError("nobody is logged in (the first-start mode has no user of its own)")
    return user


def _agent(user: UserView) -> str:
    if not user.agent:
        raise ConflictError(
            f"your user is not an agent; ask an admin: ringfort user set {user.username} --agent N"
        )
    return user.agent


def _extension(user: UserView) -> str:
    if not user.extension:
        raise ConflictError(
            f"your user has no extension; ask an admin: ringfort user set {user.username}"
            " --extension N"
        )
    return user.extension


def _message(message: MessageView) -> dict[str, Any]:
    found = asdict(message)
    del found["file"]
    found["audio"] = f"/api/v1/me/voicemail/{message.id}/audio"
    return found


def _forwarding(view: ExtensionView) -> dict[str, Any]:
    return {
        "extension": view.number,
        "dnd": view.dnd,
        "always": view.forward_always,
        "busy": view.forward_busy,
        "no_answer": view.forward_no_answer,
    }


def me_routes(
    db: Database,
    voicemail: VoicemailService,
    live: LiveFeed | None,
    extensions: ExtensionService,
) -> APIRouter:
    """``/api/v1/me/...``."""
    router = APIRouter(tags=["my page"])
    directory = QueueDirectoryService(db=db)

    @router.get("/api/v1/me/forwarding")
    async def my_forwarding(request: Request) -> dict[str, Any]:
        """The forwards and do-not-disturb of the user's extension."""
        return _forwarding(await extensions.get(_extension(_user(request))))

    @router.patch("/api/v1/me/forwarding")
    async def set_my_forwarding(request: Request, body: ForwardingBody) -> dict[str, Any]:
        """Set them, as the phone's ``*72``/``*90``/``*52``/``*78`` codes do; what is left out
        stays, a forward given as null or empty is switched off."""
        number = _extension(_user(request))
        return _forwarding(await extensions.set_forwarding(number, body.change()))

    async def own_message(request: Request, message_id: int) -> MessageView:
        mailbox = _extension(_user(request))
        message = await voicemail.message(message_id)
        if message.mailbox != mailbox:
            # Someone else's message is not even said to exist.
            raise NotFoundError(f"no voicemail message {message_id} in your mailbox")
        return message

    @router.get("/api/v1/me")
    async def me(request: Request) -> dict[str, Any]:
        """The user, their agent's state now and their place in each of their queues."""
        user = _user(request)
        found: dict[str, Any] = {
            "username": user.username,
            "role": user.role,
            "extension": user.extension,
            "agent": user.agent,
            "state": None,
            "queues": [],
        }
        if user.agent:
            members = [m for m in await directory.members() if m.agent == user.agent]
            found["queues"] = [
                {
                    "queue": m.queue,
                    "logged_in": m.phone is not None,
                    "phone": m.phone,
                    "paused": m.paused,
                    "reason": m.pause_reason,
                }
                for m in members
            ]
            if live is not None:
                found["state"] = live.agent(user.agent)
        return found

    @router.put("/api/v1/me/queues/{queue}")
    async def log_in(queue: str, body: QueueLogin, request: Request) -> dict[str, Any]:
        """Log in to a queue (at the user's extension unless another is given)."""
        user = _user(request)
        phone = body.phone or _extension(user)
        return asdict(await directory.log_in(queue, _agent(user), phone, by_agent=True))

    @router.delete("/api/v1/me/queues/{queue}")
    async def log_out(queue: str, request: Request) -> dict[str, Any]:
        """Log out of a queue."""
        member = await directory.log_out(queue, _agent(_user(request)), by_agent=True)
        if member is None:
            raise NotFoundError(f"you are not logged in to {queue}")
        return asdict(member)

    @router.post("/api/v1/me/pause")
    async def pause(body: MyPause, request: Request) -> list[dict[str, Any]]:
        """Pause (in one queue, or all of one's queues)."""
        agent = _agent(_user(request))
        return [asdict(m) for m in await directory.pause(body.queue, agent, body.reason)]

    @router.post("/api/v1/me/unpause")
    async def unpause(request: Request) -> list[dict[str, Any]]:
        """End one's pause in every queue."""
        return [asdict(m) for m in await directory.unpause(None, _agent(_user(request)))]

    @router.get("/api/v1/me/calls")
    async def calls(request: Request, days: int = 1) -> list[dict[str, Any]]:
        """The calls the user's extension made or took, today (``days=1``) or in the last
        ``days`` days, newest first."""
        if not 1 <= days <= 31:
            raise ValidationError("days is 1 to 31", field="days")
        extension = _extension(_user(request))
        midnight = datetime.combine(datetime.now(UTC).astimezone().date(), time())
        since = midnight.astimezone() - timedelta(days=days - 1)
        found = await CdrService(db=db).of_party(extension, since=since, limit=500)
        return [asdict(record) for record in found]

    @router.get("/api/v1/me/voicemail")
    async def messages(request: Request) -> list[dict[str, Any]]:
        """The messages in one's mailbox, newest first."""
        mailbox = _extension(_user(request))
        return [_message(m) for m in await voicemail.messages(mailbox)]

    @router.get("/api/v1/me/voicemail/{message_id}/audio")
    async def audio(message_id: int, request: Request) -> FileResponse:
        """A message's WAV (range requests, for a player that seeks)."""
        message = await own_message(request, message_id)
        if not await asyncio.to_thread(Path(message.file).is_file):
            raise NotFoundError(f"voicemail message {message_id} has lost its audio file")
        return FileResponse(message.file, media_type="audio/wav")

    @router.patch("/api/v1/me/voicemail/{message_id}")
    async def mark(message_id: int, body: Read, request: Request) -> dict[str, Any]:
        """Mark a message listened to, or new again."""
        await own_message(request, message_id)
        return _message(await voicemail.mark_read(message_id, read=body.read))

    @router.delete("/api/v1/me/voicemail/{message_id}", status_code=204)
    async def delete(message_id: int, request: Request) -> Response:
        """Delete a message."""
        await own_message(request, message_id)
        await voicemail.delete(message_id)
        return Response(status_code=204)

    return router
