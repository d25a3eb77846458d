"""Repositories against a real database: ordering, upserts, deletes, constraints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ringfort.db import migrate
from ringfort.db.engine import make_engine, make_session_factory
from ringfort.db.models import Cdr, Extension
from ringfort.db.repositories import (
    BlockedAddressRepository,
    BlockValues,
    CdrRepository,
    ExtensionRepository,
    RegistrationRepository,
    RegistrationValues,
)

T0 = datetime(2024, 5, 31, 8, 0, tzinfo=UTC)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await migrate.upgrade(database_url)
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    await engine.dispose()


def binding(
    number: str = "101", contact: str = "sip:101@192.0.2.10:5060", **changes: object
) -> RegistrationValues:
    values = RegistrationValues(
        number=number,
        contact=contact,
        expires_at=1_000.0,
        call_id="call-1",
        cseq=1,
        q=None,
        transport="UDP",
        source_host="192.0.2.10",
        source_port=5060,
        behind_nat=False,
        user_agent="Phone/1.0",
    )
    values.update(changes)  # type: ignore[typeddict-item]
    return values


def cdr(uniqueid: str, start: datetime) -> Cdr:
    return Cdr(
        uniqueid=uniqueid,
        linkedid=uniqueid,
        src="101",
        dst="102",
        clid='"Demo 101" <101>',
        start=start,
        answer=None,
        end=start + timedelta(seconds=5),
        duration=5,
        billsec=0,
        disposition="NO ANSWER",
        hangup_by=None,
        recording=None,
    )


async def test_extensions_are_listed_shorter_numbers_first(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        repository = ExtensionRepository(session=session)
        for number in ("1000", "102", "101", "20"):
            repository.add(Extension(number=number, name=f"Ext {number}", sip_password="x" * 12))
        await session.commit()

    async with sessions() as session:
        numbers = [e.number for e in await ExtensionRepository(session=session).list()]

    assert numbers == ["20", "101", "102", "1000"]


async def test_extension_lookup_by_number(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        ExtensionRepository(session=session).add(
            Extension(number="101", name="Alice", sip_password="secret-101")
        )
        await session.commit()

    async with sessions() as session:
        repository = ExtensionRepository(session=session)
        found = await repository.get("101")
        assert found is not None
        assert (found.name, found.sip_password) == ("Alice", "secret-101")
        assert found.created_at.tzinfo is UTC
        assert await repository.get("999") is None
        assert await repository.exists("101")
        assert not await repository.exists("999")


async def test_duplicate_extension_number_violates_the_unique_constraint(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        repository = ExtensionRepository(session=session)
        repository.add(Extension(number="101", name="A", sip_password="x" * 12))
        repository.add(Extension(number="101", name="B", sip_password="y" * 12))
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_registration_upsert_replaces_the_binding_of_the_same_contact(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        await RegistrationRepository(session=session).upsert(
            [binding(), binding(contact="sip:101@b")]
        )
        await session.commit()
    async with sessions() as session:
        await RegistrationRepository(session=session).upsert(
            [binding(expires_at=2_000.0, cseq=2, q=0.5, behind_nat=True, user_agent=None)]
        )
        await session.commit()

    async with sessions() as session:
        rows = await RegistrationRepository(session=session).list()

    assert [(r.contact, r.expires_at, r.cseq, r.q, r.behind_nat, r.user_agent) for r in rows] == [
        ("sip:101@192.0.2.10:5060", 2_000.0, 2, 0.5, True, None),
        ("sip:101@b", 1_000.0, 1, None, False, "Phone/1.0"),
    ]


async def test_registration_delete_removes_only_the_named_pairs(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        repository = RegistrationRepository(session=session)
        await repository.upsert(
            [binding("101", "sip:a"), binding("101", "sip:b"), binding("102", "sip:a")]
        )
        await session.commit()
    async with sessions() as session:
        await RegistrationRepository(session=session).delete(
            [("101", "sip:a"), ("102", "sip:missing")]
        )
        await session.commit()

    async with sessions() as session:
        rows = await RegistrationRepository(session=session).list()

    assert [(r.number, r.contact) for r in rows] == [("101", "sip:b"), ("102", "sip:a")]


async def test_registrations_active_and_lapsed(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        repository = RegistrationRepository(session=session)
        await repository.upsert(
            [
                binding("101", "sip:old", expires_at=100.0),
                binding("101", "sip:new", expires_at=300.0),
                binding("102", "sip:x", expires_at=300.0),
            ]
        )
        await session.commit()

    async with sessions() as session:
        repository = RegistrationRepository(session=session)
        active = [(r.number, r.contact) for r in await repository.list_active(200.0)]
        await repository.delete_lapsed(200.0)
        await repository.delete_for_number("102")
        await session.commit()
        remaining = [(r.number, r.contact) for r in await repository.list()]

    assert active == [("101", "sip:new"), ("102", "sip:x")]
    assert remaining == [("101", "sip:new")]


async def test_cdr_list_is_newest_first_limited_and_filtered_by_start(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        repository = CdrRepository(session=session)
        for minute in range(5):
            repository.add(cdr(f"call-{minute}", T0 + timedelta(minutes=minute)))
        await session.commit()

    async with sessions() as session:
        repository = CdrRepository(session=session)
        newest_two = [c.uniqueid for c in await repository.list(limit=2)]
        since = [c.uniqueid for c in await repository.list(since=T0 + timedelta(minutes=3))]
        found = await repository.get("call-2")

    assert newest_two == ["call-4", "call-3"]
    assert since == ["call-4", "call-3"]
    assert found is not None
    assert found.start == T0 + timedelta(minutes=2)


async def test_cdr_rejects_an_unknown_disposition(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    record = cdr("call-1", T0)
    record.disposition = "MAYBE"
    async with sessions() as session:
        CdrRepository(session=session).add(record)
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_block_upsert_extends_the_block_and_keeps_when_it_started(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    first = BlockValues(address="192.0.2.7", blocked_until=100.0, failures=10, reason="auth")
    async with sessions() as session:
        await BlockedAddressRepository(session=session).upsert(first)
        await session.commit()
    async with sessions() as session:
        started = (await BlockedAddressRepository(session=session).list())[0].blocked_at
        await BlockedAddressRepository(session=session).upsert(
            {"address": "192.0.2.7", "blocked_until": 900.0, "failures": 25, "reason": "again"}
        )
        await session.commit()

    async with sessions() as session:
        rows = await BlockedAddressRepository(session=session).list()

    assert [(r.address, r.blocked_until, r.failures, r.reason) for r in rows] == [
        ("192.0.2.7", 900.0, 25, "again")
    ]
    assert rows[0].blocked_at == started


async def test_blocks_active_and_delete(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        repository = BlockedAddressRepository(session=session)
        await repository.upsert(
            {"address": "192.0.2.1", "blocked_until": 100.0, "failures": 1, "reason": "r"}
        )
        await repository.upsert(
            {"address": "192.0.2.2", "blocked_until": 300.0, "failures": 1, "reason": "r"}
        )
        await session.commit()

    async with sessions() as session:
        repository = BlockedAddressRepository(session=session)
        active = [b.address for b in await repository.list_active(200.0)]
        await repository.delete("192.0.2.2")
        await repository.delete("198.51.100.1")
        await session.commit()
        remaining = [b.address for b in await repository.list()]

    assert active == ["192.0.2.2"]
    assert remaining == ["192.0.2.1"]
