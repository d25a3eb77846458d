"""Recordings over HTTP: metadata listed and shown, audio downloaded whole or by range."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from ringfort.rtp.wav import encode_wav
from ringfort.services.cdr import CdrService
from ringfort.services.database import Database

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
AUDIO = encode_wav(bytes(8000 * 2 * 2), channels=2)


async def record(
    db: Database, directory: Path, uniqueid: str, hour: int, src: str, *, file: bool = True
) -> None:
    start = START + timedelta(hours=hour)
    relative = f"{start:%Y/%m/%d}/{uniqueid}.wav"
    if file:
        wav = directory / relative
        wav.parent.mkdir(parents=True, exist_ok=True)
        wav.write_bytes(AUDIO)
        metadata = {"channels": 2, "started": start.isoformat(), "seconds": 1.0, "pauses": []}
        wav.with_suffix(".json").write_text(json.dumps(metadata), encoding="utf-8")
    await CdrService(db=db).add(
        uniqueid=uniqueid,
        linkedid=uniqueid,
        src=src,
        dst="102",
        clid=src,
        start=start,
        answer=start + timedelta(seconds=1),
        end=start + timedelta(seconds=2),
        disposition="ANSWERED",
        recording=relative,
    )


@pytest.fixture
async def recorded(db: Database, recordings_directory: Path) -> None:
    await record(db, recordings_directory, "r1", 0, "101")
    await record(db, recordings_directory, "r2", 1, "103")
    await record(db, recordings_directory, "r3", 2, "101", file=False)
    await CdrService(db=db).add(  # a call not recorded is not listed
        uniqueid="plain",
        linkedid="plain",
        src="101",
        dst="102",
        clid="101",
        start=START,
        end=START + timedelta(seconds=3),
        disposition="NO ANSWER",
    )


async def test_recordings_are_listed_newest_first(api: httpx.AsyncClient, recorded: None) -> None:
    listed = (await api.get("/api/v1/recordings")).json()
    assert [r["uniqueid"] for r in listed["items"]] == ["r3", "r2", "r1"]
    assert listed["total"] == 3
    missing, present = listed["items"][0], listed["items"][1]
    assert (missing["exists"], missing["audio"]) == (False, None)
    assert present["audio"] == "/api/v1/recordings/r2/audio"
    assert (present["channels"], present["size"]) == (2, len(AUDIO))
    assert "file" not in present  # the server's own path stays on the server

    mine = await api.get("/api/v1/recordings", params={"src": "101", "direction": "asc"})
    assert [r["uniqueid"] for r in mine.json()["items"]] == ["r1", "r3"]
    page = await api.get("/api/v1/recordings", params={"limit": 1, "offset": 1})
    assert [r["uniqueid"] for r in page.json()["items"]] == ["r2"]
    found = await api.get("/api/v1/recordings", params={"search": "R2.WAV"})
    assert [r["uniqueid"] for r in found.json()["items"]] == ["r2"]


async def test_a_recording_is_shown_and_its_audio_served_by_range(
    api: httpx.AsyncClient, recorded: None
) -> None:
    shown = (await api.get("/api/v1/recordings/r1")).json()
    assert shown["metadata"]["channels"] == 2
    whole = await api.get("/api/v1/recordings/r1/audio")
    assert (whole.status_code, whole.headers["content-type"]) == (200, "audio/wav")
    assert whole.content == AUDIO
    assert whole.headers["accept-ranges"] == "bytes"
    part = await api.get("/api/v1/recordings/r1/audio", headers={"Range": "bytes=0-3"})
    assert (part.status_code, part.content) == (206, b"RIFF")
    assert part.headers["content-range"] == f"bytes 0-3/{len(AUDIO)}"
    tail = await api.get("/api/v1/recordings/r1/audio", headers={"Range": "bytes=-4"})
    assert (tail.status_code, tail.content) == (206, AUDIO[-4:])


async def test_missing_recordings_are_404(api: httpx.AsyncClient, recorded: None) -> None:
    lost = await api.get("/api/v1/recordings/r3/audio")
    assert lost.status_code == 404
    assert "lost its file" in lost.json()["detail"]
    unrecorded = await api.get("/api/v1/recordings/plain")
    assert (unrecorded.status_code, unrecorded.json()["detail"]) == (
        404,
        "call plain has no recording",
    )
    assert (await api.get("/api/v1/recordings/nope/audio")).status_code == 404
