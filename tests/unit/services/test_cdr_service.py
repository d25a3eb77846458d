"""CdrService: Asterisk-style durations, validation, listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ringfort.errors import ConflictError, ValidationError
from ringfort.services.cdr import CdrService, whole_seconds
from ringfort.services.database import Database

T0 = datetime(2024, 5, 31, 8, 0, tzinfo=UTC)


async def test_no_records_at_first(db: Database) -> None:
    assert await CdrService(db=db).list() == []


async def test_answered_call_gets_duration_and_billsec(db: Database) -> None:
    service = CdrService(db=db)

    view = await service.add(
        uniqueid="1717142400.1",
        linkedid="1717142400.1",
        src="101",
        dst="102",
        clid='"Demo 101" <101>',
        start=T0,
        answer=T0 + timedelta(seconds=4, milliseconds=400),
        end=T0 + timedelta(seconds=64, milliseconds=900),
        disposition="ANSWERED",
        hangup_by="callee",
        recording="recordings/2024/05/31/1717142400.1.wav",
    )

    assert (view.duration, view.billsec) == (65, 61)
    assert await service.list() == [view]


async def test_unanswered_call_bills_nothing(db: Database) -> None:
    view = await CdrService(db=db).add(
        uniqueid="u1",
        linkedid="u1",
        src="101",
        dst="102",
        clid="101",
        start=T0,
        end=T0 + timedelta(seconds=30),
        disposition="NO ANSWER",
    )

    assert (view.duration, view.billsec, view.answer, view.hangup_by) == (30, 0, None, None)


def test_whole_seconds_rounds_half_up() -> None:
    assert whole_seconds(timedelta(milliseconds=499)) == 0
    assert whole_seconds(timedelta(milliseconds=500)) == 1
    assert whole_seconds(timedelta(seconds=61, milliseconds=499)) == 61


async def test_times_are_returned_in_utc(db: Database) -> None:
    paris = timezone(timedelta(hours=2))
    view = await CdrService(db=db).add(
        uniqueid="u1",
        linkedid="u1",
        src="101",
        dst="102",
        clid="101",
        start=datetime(2024, 5, 31, 10, 0, tzinfo=paris),
        end=datetime(2024, 5, 31, 10, 1, tzinfo=paris),
        disposition="BUSY",
    )

    (stored,) = await CdrService(db=db).list()
    assert stored.start == T0
    assert stored.start.tzinfo is UTC
    assert stored == view


async def test_list_filters_by_start_and_limits_newest_first(db: Database) -> None:
    service = CdrService(db=db)
    for minute in range(4):
        await service.add(
            uniqueid=f"u{minute}",
            linkedid=f"u{minute}",
            src="101",
            dst="102",
            clid="101",
            start=T0 + timedelta(minutes=minute),
            end=T0 + timedelta(minutes=minute, seconds=3),
            disposition="CANCELLED",
        )

    assert [v.uniqueid for v in await service.list(limit=2)] == ["u3", "u2"]
    assert [v.uniqueid for v in await service.list(since=T0 + timedelta(minutes=2))] == [
        "u3",
        "u2",
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"disposition": "HUNG"}, "disposition"),
        ({"hangup_by": "nobody"}, "hangup_by"),
        ({"end": T0 - timedelta(seconds=1)}, "end"),
        ({"start": datetime(2024, 5, 31, 8, 0)}, "start"),
        ({"answer": T0 + timedelta(hours=1)}, "answer"),
        ({"disposition": "ANSWERED"}, "answer"),
    ],
)
async def test_inconsistent_records_are_refused(
    db: Database, changes: dict[str, object], field: str
) -> None:
    values: dict[str, object] = {
        "uniqueid": "u1",
        "linkedid": "u1",
        "src": "101",
        "dst": "102",
        "clid": "101",
        "start": T0,
        "end": T0 + timedelta(seconds=10),
        "disposition": "FAILED",
    }
    values.update(changes)

    with pytest.raises(ValidationError) as caught:
        await CdrService(db=db).add(**values)  # type: ignore[arg-type]

    assert caught.value.field == field


async def test_a_repeated_uniqueid_is_a_conflict(db: Database) -> None:
    service = CdrService(db=db)

    async def add() -> None:
        await service.add(
            uniqueid="u1",
            linkedid="u1",
            src="1",
            dst="2",
            clid="1",
            start=T0,
            end=T0,
            disposition="FAILED",
        )

    await add()
    with pytest.raises(ConflictError):
        await add()


async def test_since_must_be_aware(db: Database) -> None:
    with pytest.raises(ValidationError):
        await CdrService(db=db).list(since=datetime(2024, 5, 31))


async def test_caller_ids_from_the_network_are_cut_to_fit_not_refused(db: Database) -> None:
    view = await CdrService(db=db).add(
        uniqueid="u1",
        linkedid="u1",
        src="1" * 200,
        dst="2" * 200,
        clid='"' + "x" * 300 + '" <101>',
        start=T0,
        end=T0,
        disposition="FAILED",
    )

    assert (len(view.src), len(view.dst), len(view.clid)) == (80, 80, 160)
    assert (await CdrService(db=db).list())[0] == view


@pytest.mark.parametrize("uniqueid", ["", "x" * 65])
async def test_uniqueid_must_fit(db: Database, uniqueid: str) -> None:
    with pytest.raises(ValidationError) as caught:
        await CdrService(db=db).add(
            uniqueid=uniqueid,
            linkedid="u1",
            src="1",
            dst="2",
            clid="1",
            start=T0,
            end=T0,
            disposition="FAILED",
        )
    assert caught.value.field == "uniqueid"
