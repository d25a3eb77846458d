"""REST routes of voicemail: mailboxes on and off, messages listed, heard, marked, deleted.

The same service as ``ringfort voicemail``; the audio is the message's WAV as stored
(8 kHz 16-bit mono), served with range requests so a browser's player can seek.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from ringfort.errors import NotFoundError
from ringfort.services.voicemail import MessageView, VoicemailService

__all__ = ["voicemail_routes"]


class Switch(BaseModel):
    """Voicemail on or off for an extension."""

    enabled: bool = Field(description="Busy, unanswered and unregistered calls go to voicemail.")


class Mark(BaseModel):
    """A message listened to, or new again."""

    read: bool = Field(description="True: to Old (listened to); false: back to INBOX.")


def _message(message: MessageView) -> dict[str, Any]:
    found = asdict(message)
    del found["file"]  # where the server keeps it is not the client's business
    found["audio"] = f"/api/v1/voicemail/messages/{message.id}/audio"
    return found


def voicemail_routes(service: VoicemailService) -> APIRouter:
    """``/api/v1/voicemail/...``: mailboxes and messages."""
    router = APIRouter(tags=["voicemail"])

    @router.get("/api/v1/voicemail/mailboxes")
    async def mailboxes() -> list[dict[str, Any]]:
        """Extensions with voicemail on, with their new and old message counts."""
        return [
            {"mailbox": number, "new": new, "old": old}
            for number, new, old in await service.mailboxes()
        ]

    @router.put("/api/v1/voicemail/mailboxes/{number}")
    async def switch(number: str, body: Switch) -> dict[str, Any]:
        """Turn voicemail on or off for an extension (its messages are kept)."""
        await service.set_enabled(number, body.enabled)
        return {"mailbox": number, "enabled": body.enabled}

    @router.get("/api/v1/voicemail/messages")
    async def messages(
        mailbox: str | None = None, folder: str | None = None
    ) -> list[dict[str, Any]]:
        """Messages, newest first; of one mailbox, one folder (INBOX, Old) when given."""
        return [_message(m) for m in await service.messages(mailbox, folder=folder)]

    @router.get("/api/v1/voicemail/messages/{message_id}")
    async def message(message_id: int) -> dict[str, Any]:
        """One message."""
        return _message(await service.message(message_id))

    @router.get("/api/v1/voicemail/messages/{message_id}/audio")
    async def audio(message_id: int) -> FileResponse:
        """The message's WAV."""
        found = await service.message(message_id)
        if not await asyncio.to_thread(Path(found.file).is_file):
            raise NotFoundError(f"voicemail message {message_id} has lost its audio file")
        return FileResponse(
            found.file, media_type="audio/wav", filename=f"voicemail-{message_id}.wav"
        )

    @router.patch("/api/v1/voicemail/messages/{message_id}")
    async def mark(message_id: int, body: Mark) -> dict[str, Any]:
        """Mark a message listened to (Old), or new again (INBOX)."""
        return _message(await service.mark_read(message_id, read=body.read))

    @router.delete("/api/v1/voicemail/messages/{message_id}", status_code=204)
    async def delete(message_id: int) -> Response:
        """Delete a message and its audio."""
        await service.delete(message_id)
        return Response(status_code=204)

    return router
