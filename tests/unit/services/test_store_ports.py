"""The database behind the call core's ports: credentials cache, bindings, blocks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from ringfort.pbx.forwarding import NO_FORWARDING, Forwarding, ForwardingChange
from ringfort.pbx.ports import Binding, BlockedAddress, Credentials
from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService
from ringfort.services.store_ports import (
    DirectoryForwarding,
    SqlBindingStore,
    SqlBlockStore,
    SqlExtensionDirectory,
)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def queries(db: Database) -> Iterator[list[str]]:
    """Every SELECT on extensions the database runs while the test does."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        statement = args[2]
        if statement.lstrip().upper().startswith("SELECT") and "extensions" in statement:
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine.sync_engine, "before_cursor_execute", record)


def a_binding(contact: str = "sip:101@10.0.0.4:5060;transport=udp", **changes: Any) -> Binding:
    values: dict[str, Any] = {
        "number": "101",
        "contact": contact,
        "expires_at": 1_717_146_000.5,
        "call_id": "a84b4c76e66710@pc33.example.com",
        "cseq": 314159,
        "q": 0.7,
        "transport": "UDP",
        "source_host": "203.0.113.9",
        "source_port": 40123,
        "behind_nat": True,
        "user_agent": "Deskphone/2.1",
    }
    values.update(changes)
    return Binding(**values)


async def test_credentials_of_an_extension_and_of_none(db: Database) -> None:
    await ExtensionService(db=db).add("101", "Alice", "secret-101")
    directory = SqlExtensionDirectory(db=db)

    assert await directory.credentials("101") == Credentials("101", "secret-101", "Alice")
    assert await directory.credentials("999") is None


async def test_credentials_are_cached_for_the_ttl_then_reloaded(
    db: Database, queries: list[str]
) -> None:
    service = ExtensionService(db=db)
    await service.add("101", "Alice", "first-password")
    clock = FakeMonotonic()
    directory = SqlExtensionDirectory(db=db, ttl=2.0, monotonic=clock)

    await directory.credentials("101")
    await service.set_password("101", "second-password")
    queries.clear()
    clock.now += 1.9
    cached = await directory.credentials("101")
    assert queries == []
    clock.now += 0.2
    reloaded = await directory.credentials("101")

    assert cached == Credentials("101", "first-password", "Alice")
    assert reloaded == Credentials("101", "second-password", "Alice")
    assert len(queries) == 1


async def test_unknown_numbers_are_cached_too(db: Database, queries: list[str]) -> None:
    clock = FakeMonotonic()
    directory = SqlExtensionDirectory(db=db, monotonic=clock)

    for _ in range(100):
        assert await directory.credentials("999") is None

    assert len(queries) == 1


async def test_invalidate_makes_a_change_visible_at_once(db: Database) -> None:
    directory = SqlExtensionDirectory(db=db, monotonic=FakeMonotonic())
    service = ExtensionService(db=db, on_change=directory.invalidate)
    assert await directory.credentials("101") is None

    await service.add("101", "Alice", "secret-101")

    assert await directory.credentials("101") == Credentials("101", "secret-101", "Alice")


async def test_concurrent_lookups_of_one_number_share_one_query(
    db: Database, queries: list[str]
) -> None:
    await ExtensionService(db=db).add("101", "Alice", "secret-101")
    directory = SqlExtensionDirectory(db=db, monotonic=FakeMonotonic())
    queries.clear()

    results = await asyncio.gather(*(directory.credentials("101") for _ in range(200)))

    assert set(results) == {Credentials("101", "secret-101", "Alice")}
    assert len(queries) == 1


async def test_a_lookup_started_before_invalidate_does_not_refill_the_cache(
    db: Database, queries: list[str]
) -> None:
    directory = SqlExtensionDirectory(db=db, monotonic=FakeMonotonic())
    early = asyncio.ensure_future(directory.credentials("101"))
    await asyncio.sleep(0)  # the shared query has started
    directory.invalidate("101")
    assert await early is None

    await directory.credentials("101")

    assert len(queries) == 2


async def test_the_cache_stays_bounded(db: Database, queries: list[str]) -> None:
    directory = SqlExtensionDirectory(db=db, max_entries=2, monotonic=FakeMonotonic())

    for number in ("201", "202", "203", "201"):
        await directory.credentials(number)

    # Full at 203, so everything was dropped and 201 had to be asked again.
    assert len(queries) == 4


async def test_a_cancelled_caller_does_not_cancel_the_others(db: Database) -> None:
    await ExtensionService(db=db).add("101", "Alice", "secret-101")
    directory = SqlExtensionDirectory(db=db, monotonic=FakeMonotonic())
    impatient = asyncio.ensure_future(directory.credentials("101"))
    patient = asyncio.ensure_future(directory.credentials("101"))
    await asyncio.sleep(0)

    impatient.cancel()

    assert await patient == Credentials("101", "secret-101", "Alice")
    assert impatient.cancelled()


async def test_bindings_round_trip_with_every_field(db: Database) -> None:
    store = SqlBindingStore(db=db)
    bindings = [
        a_binding(),
        a_binding("sip:101@[2001:db8::5]:5062", q=None, user_agent=None, behind_nat=False),
    ]

    await store.save_bindings(bindings, [])

    assert sorted(await store.load_bindings(), key=lambda b: b.contact) == sorted(
        bindings, key=lambda b: b.contact
    )


async def test_saving_a_binding_again_replaces_it(db: Database) -> None:
    store = SqlBindingStore(db=db)
    await store.save_bindings([a_binding()], [])

    refreshed = a_binding(expires_at=1_717_149_600.0, cseq=314160)
    await store.save_bindings([refreshed], [])

    assert await store.load_bindings() == [refreshed]


async def test_deletes_and_upserts_apply_together(db: Database) -> None:
    store = SqlBindingStore(db=db)
    await store.save_bindings([a_binding("sip:a"), a_binding("sip:b")], [])

    await store.save_bindings(
        [a_binding("sip:b", cseq=2), a_binding("sip:c")], [("101", "sip:a"), ("101", "sip:b")]
    )

    assert [(b.contact, b.cseq) for b in await store.load_bindings()] == [
        ("sip:b", 2),
        ("sip:c", 314159),
    ]


async def test_a_failed_batch_leaves_nothing_half_written(db: Database) -> None:
    store = SqlBindingStore(db=db)
    await store.save_bindings([a_binding("sip:a")], [])

    with pytest.raises(Exception, match=r"NOT NULL|null value"):
        await store.save_bindings(
            [a_binding("sip:b"), a_binding("sip:c", call_id=None)], [("101", "sip:a")]
        )

    assert [b.contact for b in await store.load_bindings()] == ["sip:a"]


async def test_saving_nothing_is_allowed(db: Database) -> None:
    await SqlBindingStore(db=db).save_bindings([], [])


async def test_blocks_are_saved_extended_loaded_and_removed(db: Database) -> None:
    store = SqlBlockStore(db=db)
    await store.save_block(BlockedAddress("192.0.2.66", 1_000.0, 10, "failed authentication"))
    await store.save_block(BlockedAddress("192.0.2.66", 2_000.0, 20, "failed authentication"))
    await store.save_block(BlockedAddress("192.0.2.67", 1_500.0, 10, "failed authentication"))

    loaded = await store.load_blocks()
    await store.remove_block("192.0.2.66")
    await store.remove_block("192.0.2.99")

    assert loaded == [
        BlockedAddress("192.0.2.66", 2_000.0, 20, "failed authentication"),
        BlockedAddress("192.0.2.67", 1_500.0, 10, "failed authentication"),
    ]
    assert [b.address for b in await store.load_blocks()] == ["192.0.2.67"]


async def test_an_overlong_block_reason_is_cut_not_lost(db: Database) -> None:
    store = SqlBlockStore(db=db)

    await store.save_block(BlockedAddress("192.0.2.66", 1_000.0, 10, "r" * 1000))

    (block,) = await store.load_blocks()
    assert block.reason == "r" * 255


async def test_preloaded_snapshot_answers_without_queries_and_follows_changes(
    db: Database, queries: list[str]
) -> None:
    service = ExtensionService(db=db)
    await service.add("101", "Alice", "first-password")
    clock = FakeMonotonic()
    directory = SqlExtensionDirectory(db=db, monotonic=clock, refresh_interval=1.0)
    assert await directory.preload() == 1

    queries.clear()
    for _ in range(50):
        assert await directory.credentials("101") == Credentials("101", "first-password", "Alice")
    assert queries == []

    await service.set_password("101", "second-password")
    await service.add("102", "Bob", "bob-password")
    clock.now += 1.5
    # The stale snapshot answers while the change check runs behind it.
    assert await directory.credentials("101") == Credentials("101", "first-password", "Alice")
    for _ in range(200):  # the check finishes within a few loop turns; bounded anyway
        if await directory.credentials("101") != Credentials("101", "first-password", "Alice"):
            break
        await asyncio.sleep(0.01)
    assert await directory.credentials("101") == Credentials("101", "second-password", "Alice")
    assert await directory.credentials("102") == Credentials("102", "bob-password", "Bob")
    await directory.close()


async def test_forwarding_is_read_from_the_snapshot_and_a_change_holds_at_once(
    db: Database, queries: list[str]
) -> None:
    await ExtensionService(db=db).add("101", "Alice", "secret-101")
    await ExtensionService(db=db).add("102", "Bob", "secret-102")
    directory = SqlExtensionDirectory(db=db, monotonic=FakeMonotonic())
    await directory.preload()
    forwards = DirectoryForwarding(
        directory, ExtensionService(db=db, on_change=directory.invalidate)
    )

    queries.clear()
    assert await forwards.forwarding("101") == NO_FORWARDING
    assert queries == []
    assert await forwards.forwarding("999") == NO_FORWARDING

    view = await forwards.set_forwarding("101", ForwardingChange(busy="102", dnd=True))
    assert (view.forward_busy, view.dnd) == ("102", True)
    # No waiting for the snapshot's refresh: the next call follows the new forward.
    assert await forwards.forwarding("101") == Forwarding(busy="102", dnd=True)
    await directory.close()
