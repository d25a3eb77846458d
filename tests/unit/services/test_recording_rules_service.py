"""RecordingRuleService: rules stored and checked, and which calls they have recorded."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import OperationalError

from ringfort.errors import ConflictError, NotFoundError, ValidationError
from ringfort.pbx.ports import RecordingRules
from ringfort.services.database import Database
from ringfort.services.recording_rules import (
    RELOAD_INTERVAL,
    DuplicateRuleError,
    RecordingRuleRecord,
    RecordingRuleService,
    RuleSet,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(db: Database, clock: FakeClock) -> RecordingRuleService:
    return RecordingRuleService(db=db, monotonic=clock)


async def test_the_service_serves_as_the_call_cores_recording_rules(
    service: RecordingRuleService,
) -> None:
    rules: RecordingRules = service  # mypy checks the Protocol is met

    assert await rules.wanted("101", "102") is False


async def test_a_rule_is_stored_with_its_fields(service: RecordingRuleService) -> None:
    rule = await service.add("extension", "101", "out")

    assert (rule.kind, rule.target, rule.direction) == ("extension", "101", "out")
    assert rule.created_at.tzinfo is not None
    assert await service.list() == [rule]


async def test_number_and_prefix_rules_are_stored_for_both_directions(
    service: RecordingRuleService,
) -> None:
    number = await service.add("number", "*97")
    prefix = await service.add("prefix", "00")

    assert (number.direction, prefix.direction) == ("both", "both")
    assert [rule.id for rule in await service.list()] == [number.id, prefix.id]


@pytest.mark.parametrize(
    ("kind", "target", "direction", "field"),
    [
        ("trunk", "101", "both", "kind"),
        ("extension", "101", "sideways", "direction"),
        ("number", "555", "in", "direction"),
        ("prefix", "00", "out", "direction"),
        ("extension", "", "both", "target"),
        ("extension", "10a", "both", "target"),
        ("number", "1" * 21, "both", "target"),
        ("prefix", "+7", "both", "target"),
    ],
)
async def test_a_malformed_rule_is_refused_naming_the_field(
    service: RecordingRuleService, kind: str, target: str, direction: str, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await service.add(kind, target, direction)

    assert caught.value.field == field
    assert await service.list() == []


async def test_the_same_rule_twice_is_refused_saying_which_rule_has_it(
    service: RecordingRuleService,
) -> None:
    first = await service.add("extension", "101", "in")

    with pytest.raises(DuplicateRuleError, match=f"rule {first.id} already records calls to"):
        await service.add("extension", "101", "in")

    assert await service.list() == [first]


def test_a_duplicate_is_both_a_validation_error_and_a_conflict() -> None:
    assert issubclass(DuplicateRuleError, ValidationError)
    assert issubclass(DuplicateRuleError, ConflictError)


async def test_other_directions_of_one_extension_are_different_rules(
    service: RecordingRuleService,
) -> None:
    await service.add("extension", "101", "in")
    await service.add("extension", "101", "out")
    await service.add("number", "101")

    assert len(await service.list()) == 3


async def test_delete_removes_the_rule_and_returns_it(service: RecordingRuleService) -> None:
    rule = await service.add("prefix", "00")

    assert await service.delete(rule.id) == rule
    assert await service.list() == []


async def test_deleting_a_rule_that_does_not_exist_is_not_found(
    service: RecordingRuleService,
) -> None:
    with pytest.raises(NotFoundError, match="recording rule 42 does not exist"):
        await service.delete(42)


def _rule(kind: str, target: str, direction: str = "both") -> RecordingRuleRecord:
    return RecordingRuleRecord(1, kind, target, direction, datetime(2026, 11, 22, tzinfo=UTC))


@pytest.mark.parametrize(
    ("rule", "src", "dst", "wanted"),
    [
        (_rule("extension", "101", "out"), "101", "102", True),
        (_rule("extension", "101", "out"), "102", "101", False),
        (_rule("extension", "101", "in"), "102", "101", True),
        (_rule("extension", "101", "in"), "101", "102", False),
        (_rule("extension", "101", "both"), "101", "102", True),
        (_rule("extension", "101", "both"), "102", "101", True),
        (_rule("extension", "101", "both"), "102", "103", False),
        (_rule("extension", "101", "both"), "1010", "1011", False),
        (_rule("number", "5551234"), "101", "5551234", True),
        (_rule("number", "5551234"), "5551234", "101", False),
        (_rule("number", "5551234"), "101", "55512345", False),
        (_rule("prefix", "00"), "101", "0044207", True),
        (_rule("prefix", "00"), "101", "00", True),
        (_rule("prefix", "00"), "0044", "101", False),
        (_rule("prefix", "00"), "101", "0", False),
    ],
)
def test_which_calls_a_rule_records(
    rule: RecordingRuleRecord, src: str, dst: str, wanted: bool
) -> None:
    assert RuleSet([rule]).matches(src, dst) is wanted


def test_no_rules_record_nothing() -> None:
    assert not RuleSet().matches("101", "102")


async def test_wanted_answers_from_the_stored_rules(service: RecordingRuleService) -> None:
    await service.add("extension", "101", "out")
    await service.add("prefix", "8800")

    assert await service.wanted("101", "102")
    assert await service.wanted("103", "88001234567")
    assert not await service.wanted("102", "101")


async def test_a_change_through_the_service_counts_at_once(
    service: RecordingRuleService,
) -> None:
    assert not await service.wanted("101", "102")

    rule = await service.add("extension", "101")
    assert await service.wanted("101", "102")

    await service.delete(rule.id)
    assert not await service.wanted("101", "102")


async def test_a_change_by_another_process_counts_within_the_reload_interval(
    db: Database, service: RecordingRuleService, clock: FakeClock
) -> None:
    other_process = RecordingRuleService(db=db)
    assert not await service.wanted("101", "102")

    await other_process.add("extension", "101")
    clock.now += RELOAD_INTERVAL / 2
    assert not await service.wanted("101", "102"), "answered from memory, no query"

    clock.now += RELOAD_INTERVAL / 2
    assert await service.wanted("101", "102")


async def test_calls_between_reloads_do_not_query_the_database(
    service: RecordingRuleService, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await service.add("extension", "101")
    assert await service.wanted("101", "102")
    reads = 0
    real_list = service.list

    async def counting_list() -> list[RecordingRuleRecord]:
        nonlocal reads
        reads += 1
        return await real_list()

    monkeypatch.setattr(service, "list", counting_list)

    for _ in range(100):
        assert await service.wanted("101", "102")
        clock.now += 0.01
    assert reads == 0

    clock.now += RELOAD_INTERVAL
    assert await service.wanted("101", "102")
    assert reads == 1


async def test_an_unreachable_database_keeps_the_last_rules_and_is_logged_once(
    db: Database,
    service: RecordingRuleService,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await service.add("extension", "101")
    assert await service.wanted("101", "102")
    real_list = service.list

    async def unreachable() -> list[RecordingRuleRecord]:
        raise OperationalError("SELECT", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(service, "list", unreachable)
    with caplog.at_level(logging.WARNING, logger="ringfort.services.recording_rules"):
        for _ in range(5):
            clock.now += RELOAD_INTERVAL
            assert await service.wanted("101", "102")
    assert len(caplog.records) == 1
    assert "cannot be read" in caplog.records[0].getMessage()

    monkeypatch.setattr(service, "list", real_list)
    await RecordingRuleService(db=db).add("extension", "102")
    clock.now += RELOAD_INTERVAL
    assert await service.wanted("102", "103"), "read again once the database answers"


async def test_an_unreachable_database_before_the_first_read_records_nothing(
    service: RecordingRuleService, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable() -> list[RecordingRuleRecord]:
        raise OperationalError("SELECT", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(service, "list", unreachable)

    assert not await service.wanted("101", "102")
