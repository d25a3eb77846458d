"""REST routes of call recordings: their metadata, and their audio with range requests.

The same service as ``ringfort recording list`` and ``show``. The audio is the
WAV as recorded (stereo: caller left, callee right), served with HTTP range
requests so a browser's player can seek and stream it.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse

from ringfort.api.access import require_queue, scope_of
from ringfort.api.cdr import record_filter
from ringfort.api.errors import ERROR_RESPONSES
from ringfort.api.listing import list_query, page_body
from ringfort.errors import NotFoundError
from ringfort.services.cdr import CdrFilter
from ringfort.services.paging import PageRequest
from ringfort.services.recordings import (
    RECORDING_SEARCHED,
    RECORDING_SORTABLE,
    RecordingService,
    RecordingView,
)

__all__ = ["recording_routes"]


def _recording(view: RecordingView) -> dict[str, Any]:
    found = asdict(view)
    del found["file"]  # where the server keeps it is not the client's business
    if found["metadata"] is None:
        del found["metadata"]
    found["audio"] = f"/api/v1/recordings/{view.uniqueid}/audio" if view.exists else None
    return found


def recording_routes(service: RecordingService) -> APIRouter:
    """``GET /api/v1/recordings``, ``/{uniqueid}`` and ``/{uniqueid}/audio``."""
    router = APIRouter(tags=["recording"], responses=ERROR_RESPONSES)
    listing = list_query(
        RECORDING_SORTABLE, default="start", text=RECORDING_SEARCHED, newest_first=True
    )

    @router.get("/api/v1/recordings")
    async def recordings(
        where: Annotated[CdrFilter, Depends(record_filter)],
        page: PageRequest = Depends(listing),
    ) -> dict[str, Any]:
        """Recorded calls, newest first; ``exists`` false when the file is gone."""
        return page_body(await service.search(where, page), page, _recording)

    async def in_scope(request: Request, uniqueid: str) -> None:
        # A supervisor limited to some queues hears the recordings of those queues' calls.
        if scope_of(request) is not None:
            require_queue(request, await service.queue_of(uniqueid), "this recording")

    @router.get("/api/v1/recordings/{uniqueid}")
    async def recording(uniqueid: str, request: Request) -> dict[str, Any]:
        """One call's recording with its whole metadata (pauses, channels, times)."""
        await in_scope(request, uniqueid)
        return _recording(await service.show(uniqueid))

    @router.get("/api/v1/recordings/{uniqueid}/audio")
    async def audio(uniqueid: str, request: Request) -> FileResponse:
        """The recording's WAV; ``Range: bytes=...`` gets a part (206)."""
        await in_scope(request, uniqueid)
        found = await service.show(uniqueid)
        if not found.exists or not await asyncio.to_thread(Path(found.file).is_file):
            raise NotFoundError(f"the recording of call {uniqueid} has lost its file")
        return FileResponse(
            found.file, media_type="audio/wav", filename=f"recording-{uniqueid}.wav"
        )

    return router
