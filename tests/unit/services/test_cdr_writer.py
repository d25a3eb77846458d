"""CdrWriter: ended calls become CDR rows, in batches, through outages and duplicates."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from ringfort.bus import EventBus
from ringfort.disposition import Disposition, HangupBy
from ringfort.pbx.call_events import CallEnded
from ringfort.services.cdr import CdrService, CdrView
from ringfort.services.cdr_writer import CdrWriter
from ringfort.services.database import Database

T0 = datetime(2024, 5, 31, 8, 0, tzinfo=UTC)


def ended(
    uniqueid: str,
    *,
    answered: bool = True,
    disposition: Disposition = Disposition.ANSWERED,
    hangup_by: HangupBy = HangupBy.CALLER,
    answer_after: timedelta = timedelta(seconds=4, milliseconds=400),
    end_after: timedelta = timedelta(seconds=64, milliseconds=900),
    clid: str = '"Demo 101" <101>',
) -> CallEnded:
    return CallEnded(
        uniqueid=uniqueid,
        linkedid=f"link-{uniqueid}",
        src="101",
        dst="102",
        clid=clid,
        start=T0,
        answer=T0 + answer_after if answered else None,
        end=T0 + end_after,
        disposition=disposition,
        hangup_by=hangup_by,
        cause="normal",
        status=200,
    )


async def stored(db: Database) -> list[CdrView]:
    return await CdrService(db=db).list(limit=100_000)


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


class CountingDatabase(Database):
    """A real database that counts units of work and can fail the next ``outages`` of them."""

    def __init__(self, *, url: str, outages: int = 0) -> None:
        super().__init__(url=url)
        self.sessions = 0
        self.outages = outages

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        if self.outages > 0:
            self.outages -= 1
            raise OperationalError("INSERT", None, ConnectionRefusedError("database is down"))
        self.sessions += 1
        async with super().session() as session:
            yield session


@pytest.fixture
async def counting_db(database_url: str) -> AsyncIterator[CountingDatabase]:
    database = CountingDatabase(url=database_url)
    await database.open()
    yield database
    await database.close()


async def test_an_ended_call_becomes_one_record_with_its_times(db: Database) -> None:
    writer = CdrWriter(db=db)

    writer.on_call_ended(ended("1717142400.1", hangup_by=HangupBy.CALLEE))
    assert writer.pending == 1
    await writer.flush()

    assert writer.pending == 0
    (record,) = await stored(db)
    assert record == CdrView(
        uniqueid="1717142400.1",
        linkedid="link-1717142400.1",
        src="101",
        dst="102",
        clid='"Demo 101" <101>',
        start=T0,
        answer=T0 + timedelta(seconds=4, milliseconds=400),
        end=T0 + timedelta(seconds=64, milliseconds=900),
        duration=65,
        billsec=61,
        disposition="ANSWERED",
        hangup_by="callee",
        recording=None,
    )


async def test_an_unanswered_call_is_recorded_with_no_answer_and_no_billsec(db: Database) -> None:
    writer = CdrWriter(db=db)

    writer.on_call_ended(
        ended(
            "u1",
            answered=False,
            disposition=Disposition.NO_ANSWER,
            hangup_by=HangupBy.SYSTEM,
            end_after=timedelta(seconds=60),
        )
    )
    await writer.flush()

    (record,) = await stored(db)
    assert (record.answer, record.duration, record.billsec) == (None, 60, 0)
    assert (record.disposition, record.hangup_by) == ("NO ANSWER", "system")


async def test_calls_ended_on_the_bus_are_stored_in_the_background(db: Database) -> None:
    bus = EventBus()
    writer = CdrWriter(db=db, batch_delay=0.01)
    bus.subscribe(CallEnded, writer.on_call_ended)
    writer.start()
    try:
        bus.publish(ended("u1"))
        bus.publish(ended("u2", disposition=Disposition.BUSY, answered=False))
        await eventually(lambda: writer.pending == 0)
    finally:
        await writer.stop()

    assert sorted(r.uniqueid for r in await stored(db)) == ["u1", "u2"]


async def test_a_burst_of_calls_is_written_in_few_transactions(
    counting_db: CountingDatabase,
) -> None:
    writer = CdrWriter(db=counting_db, max_batch=500)
    for n in range(1200):
        writer.on_call_ended(ended(f"u{n}"))

    await writer.flush()

    assert counting_db.sessions == 3
    assert len(await stored(counting_db)) == 1200


async def test_calls_ending_together_share_one_transaction(
    counting_db: CountingDatabase,
) -> None:
    writer = CdrWriter(db=counting_db, batch_delay=0.2)
    writer.start()
    try:
        for n in range(50):
            writer.on_call_ended(ended(f"u{n}"))
            await asyncio.sleep(0)
        await eventually(lambda: writer.pending == 0)
    finally:
        await writer.stop()

    assert counting_db.sessions == 1
    assert len(await stored(counting_db)) == 50


async def test_a_full_batch_is_written_without_waiting_for_the_batch_delay(
    counting_db: CountingDatabase,
) -> None:
    writer = CdrWriter(db=counting_db, batch_delay=30.0, max_batch=10)
    writer.start()
    try:
        for n in range(10):
            writer.on_call_ended(ended(f"u{n}"))
        await eventually(lambda: writer.pending == 0, within=2.0)
    finally:
        await writer.stop()

    assert len(await stored(counting_db)) == 10


async def test_records_wait_out_a_database_outage_and_none_is_lost(
    counting_db: CountingDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ringfort.services.cdr_writer")
    counting_db.outages = 3
    writer = CdrWriter(db=counting_db, batch_delay=0.01, retry_delay=0.01)
    writer.start()
    try:
        for n in range(5):
            writer.on_call_ended(ended(f"u{n}"))
        await eventually(lambda: writer.pending == 0)
    finally:
        await writer.stop()

    assert counting_db.outages == 0
    assert len(await stored(counting_db)) == 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "an outage is reported once, not on every retry"
    assert "being stored again" in caplog.text


async def test_flush_raises_while_the_database_is_closed_and_keeps_the_records(
    db: Database,
) -> None:
    writer = CdrWriter(db=db)
    writer.on_call_ended(ended("u1"))
    writer.on_call_ended(ended("u2"))
    await db.close()

    with pytest.raises(RuntimeError):
        await writer.flush()
    assert writer.pending == 2

    await db.open()
    await writer.flush()
    assert writer.pending == 0
    assert sorted(r.uniqueid for r in await stored(db)) == ["u1", "u2"]


async def test_a_duplicate_uniqueid_does_not_lose_its_batch_mates(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    writer = CdrWriter(db=db)
    writer.on_call_ended(ended("u2", disposition=Disposition.BUSY, answered=False))
    await writer.flush()

    for uniqueid in ("u1", "u2", "u3"):
        writer.on_call_ended(ended(uniqueid))
    await writer.flush()

    records = {r.uniqueid: r for r in await stored(db)}
    assert sorted(records) == ["u1", "u2", "u3"]
    assert records["u2"].disposition == "BUSY", "the first record of u2 is kept"
    assert writer.pending == 0
    assert "CDR u2 not stored" in caplog.text


async def test_an_invalid_record_is_logged_and_skipped_without_its_batch_mates(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    writer = CdrWriter(db=db)
    writer.on_call_ended(ended("u1"))
    writer.on_call_ended(ended("u2", answer_after=timedelta(hours=2)))
    writer.on_call_ended(ended("x" * 65))
    writer.on_call_ended(ended("u3"))
    assert writer.pending == 2

    await writer.flush()

    assert sorted(r.uniqueid for r in await stored(db)) == ["u1", "u3"]
    assert writer.pending == 0
    assert "uniqueid=u2" in caplog.text
    assert "answer must be between start and end" in caplog.text


async def test_a_record_the_database_refuses_does_not_block_the_queue(db: Database) -> None:
    writer = CdrWriter(db=db)
    writer.on_call_ended(ended("u1"))
    # PostgreSQL text cannot hold NUL, which a SIP quoted-pair can carry (RFC 3261 §25.1).
    writer.on_call_ended(ended("u2", clid='"a\x00b" <101>'))
    writer.on_call_ended(ended("u3"))

    await writer.flush()

    assert writer.pending == 0
    assert {"u1", "u3"} <= {r.uniqueid for r in await stored(db)}


async def test_stop_stores_what_is_queued(db: Database) -> None:
    writer = CdrWriter(db=db, batch_delay=30.0)
    writer.start()
    for n in range(3):
        writer.on_call_ended(ended(f"u{n}"))

    await asyncio.wait_for(writer.stop(), 5.0)

    assert writer.pending == 0
    assert len(await stored(db)) == 3


async def test_stop_without_start_stores_what_is_queued(db: Database) -> None:
    writer = CdrWriter(db=db)
    writer.on_call_ended(ended("u1"))

    await writer.stop()

    assert [r.uniqueid for r in await stored(db)] == ["u1"]


async def test_stop_retries_through_a_short_outage(counting_db: CountingDatabase) -> None:
    writer = CdrWriter(db=counting_db, batch_delay=30.0, retry_delay=0.01)
    writer.start()
    writer.on_call_ended(ended("u1"))
    counting_db.outages = 2

    await writer.stop()

    assert [r.uniqueid for r in await stored(counting_db)] == ["u1"]


async def test_stop_gives_up_after_its_timeout_and_logs_every_unstored_record(
    counting_db: CountingDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    counting_db.outages = 1_000_000
    writer = CdrWriter(db=counting_db, retry_delay=0.01, stop_timeout=0.2)
    writer.start()
    writer.on_call_ended(ended("u1"))
    writer.on_call_ended(ended("u2"))

    await asyncio.wait_for(writer.stop(), 5.0)

    assert writer.pending == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "2 call detail record(s) could not be stored before stopping" in errors
    assert any("uniqueid=u1" in message and "src='101'" in message for message in errors)
    assert any("uniqueid=u2" in message for message in errors)


async def test_a_call_ending_after_stop_is_logged_not_lost_silently(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    writer = CdrWriter(db=db)
    writer.start()
    await writer.stop()

    writer.on_call_ended(ended("late"))

    assert writer.pending == 0
    assert "uniqueid=late" in caplog.text


async def test_the_record_says_which_extension_answered(db: Database) -> None:
    writer = CdrWriter(db=db)
    forwarded = dataclasses.replace(ended("1717142400.7"), answered_by="103")
    # No phone answered: nobody is named, whatever the event carried.
    missed = dataclasses.replace(
        ended("1717142400.8", answered=False, disposition=Disposition.NO_ANSWER),
        answered_by="103",
    )
    writer.on_call_ended(forwarded)
    writer.on_call_ended(missed)
    await writer.flush()
    by_id = {record.uniqueid: record for record in await stored(db)}
    assert (by_id["1717142400.7"].dst, by_id["1717142400.7"].answered_by) == ("102", "103")
    assert by_id["1717142400.8"].answered_by is None
