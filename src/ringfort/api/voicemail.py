"""REST routes of voicemail: mailboxes on and off with their PIN, options and greetings;
messages listed, heard, marked, deleted.

The same service as ``ringfort voicemail``; the audio is the message's WAV as stored
(8 kHz 16-bit mono), served with range requests so a browser's player can seek.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from ringfort.errors import NotFoundError, ValidationError
from ringfort.services.voicemail import Greeting, MailboxOptions, MessageView, VoicemailService

__all__ = ["voicemail_routes"]


class Switch(BaseModel):
    """Voicemail on or off for an extension."""

    enabled: bool = Field(description="Busy, unanswered and unregistered calls go to voicemail.")


class Mark(BaseModel):
    """A message listened to, or new again."""

    read: bool = Field(description="True: to Old (listened to); false: back to INBOX.")


class Pin(BaseModel):
    """The PIN that opens a mailbox from the phone."""

    pin: str | None = Field(description="4 to 16 digits; null: no PIN (only *97 from the owner).")


class Options(BaseModel):
    """How a mailbox behaves; what is left out stays as it is."""

    ring_seconds: int | None = Field(
        None, description="Ring time before voicemail (0: the system's ring timeout)."
    )
    operator: str | None = Field(
        None, description='Where 0 during the greeting goes (a destination; "" for nowhere).'
    )
    max_messages: int | None = Field(None, description="A full mailbox takes no more.")
    max_seconds: int | None = Field(None, description="The longest message.")
    ask_pin: bool | None = Field(None, description="Whether *97 from the owner's phone asks.")


MAX_GREETING_BYTES = 20 * 1024 * 1024


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

    @router.put("/api/v1/voicemail/mailboxes/{number}/pin", status_code=204)
    async def pin(number: str, body: Pin) -> Response:
        """Set or remove the mailbox's PIN."""
        await service.set_pin(number, body.pin)
        return Response(status_code=204)

    @router.get("/api/v1/voicemail/mailboxes/{number}/options")
    async def options(number: str) -> dict[str, Any]:
        """How the mailbox behaves."""
        return asdict(await service.options(number))

    @router.patch("/api/v1/voicemail/mailboxes/{number}/options")
    async def set_options(number: str, body: Options) -> dict[str, Any]:
        """Change how the mailbox behaves."""
        change = MailboxOptions(**body.model_dump())
        return asdict(await service.set_options(number, change))

    @router.get("/api/v1/voicemail/mailboxes/{number}/greetings")
    async def greetings(number: str) -> list[dict[str, Any]]:
        """The greetings the mailbox has recorded."""
        await service.options(number)  # 404 for no such extension
        return [
            {"kind": kind.value, "audio": f"/api/v1/voicemail/mailboxes/{number}/greetings/{kind}"}
            for kind in service.greetings(number)
        ]

    @router.get("/api/v1/voicemail/mailboxes/{number}/greetings/{kind}")
    async def greeting(number: str, kind: Greeting) -> FileResponse:
        """One greeting's WAV."""
        path = service.greeting_path(number, kind)
        if not await asyncio.to_thread(path.is_file):
            raise NotFoundError(f"mailbox {number} has no {kind.value} greeting")
        return FileResponse(path, media_type="audio/wav", filename=f"{number}-{kind.value}.wav")

    @router.put("/api/v1/voicemail/mailboxes/{number}/greetings/{kind}")
    async def upload_greeting(number: str, kind: Greeting, request: Request) -> dict[str, Any]:
        """Set a greeting from a WAV file sent as the body (any rate or channels)."""
        data = await request.body()
        if len(data) > MAX_GREETING_BYTES:
            raise ValidationError(f"a greeting is at most {MAX_GREETING_BYTES} bytes")
        seconds = await service.import_greeting(number, kind, data)
        return {"kind": kind.value, "seconds": round(seconds, 2)}

    @router.delete("/api/v1/voicemail/mailboxes/{number}/greetings/{kind}", status_code=204)
    async def delete_greeting(number: str, kind: Greeting) -> Response:
        """Remove a greeting."""
        await service.options(number)
        await service.delete_greeting(number, kind)
        return Response(status_code=204)

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
