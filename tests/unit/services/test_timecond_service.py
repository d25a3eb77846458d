"""TimeConditionService: conditions stored and checked, destinations and numbers kept sound."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from ringfort.apps.ivr.config import IvrMenu
from ringfort.apps.timecond import TimeCondition, WeeklyRule
from ringfort.errors import ConflictError, NotFoundError, ValidationError
from ringfort.pbx.destination import Destination
from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService
from ringfort.services.ivr import IvrService
from ringfort.services.timecond import TimeConditionService

MONDAY_NOON_UTC = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
"""15:00 in Moscow."""


def to(text: str) -> Destination:
    return Destination.parse(text)


def office(**changes: object) -> TimeCondition:
    condition = TimeCondition(
        name="office",
        timezone="Europe/Moscow",
        rules=(WeeklyRule.parse("mon-fri 09:00-18:00"), WeeklyRule.parse("sat 10:00-14:00")),
        match_destination=to("ivr:day"),
        nomatch_destination=to("extension:101"),
        holidays=(dt.date(2026, 12, 31), dt.date(2027, 1, 1)),
        number="710",
    )
    return dataclasses.replace(condition, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def places(db: Database) -> None:
    """Extension 101 and menus day and night, for conditions to send calls to."""
    await ExtensionService(db=db).add("101", "Alice", "secret123")
    await IvrService(db=db).add(IvrMenu(name="day"))
    await IvrService(db=db).add(IvrMenu(name="night"))


@pytest.fixture
def service(db: Database) -> TimeConditionService:
    return TimeConditionService(db=db, now=lambda: MONDAY_NOON_UTC)


@pytest.mark.usefixtures("places")
async def test_a_condition_is_stored_with_every_field(service: TimeConditionService) -> None:
    await service.add(office())

    assert await service.get("office") == office()
    assert await service.list() == [office()]


@pytest.mark.usefixtures("places")
async def test_holidays_are_stored_sorted_once_each(service: TimeConditionService) -> None:
    given = (dt.date(2027, 1, 1), dt.date(2026, 12, 31), dt.date(2027, 1, 1))

    stored = await service.add(office(holidays=given))

    assert stored.holidays == (dt.date(2026, 12, 31), dt.date(2027, 1, 1))
    assert (await service.get("office")).holidays == stored.holidays


@pytest.mark.usefixtures("places")
async def test_check_uses_the_injected_clock_when_given_no_time(
    service: TimeConditionService,
) -> None:
    await service.add(office())

    result = await service.check("office")

    assert result.inside
    assert result.destination == to("ivr:day")
    assert result.local_time.isoformat() == "2026-11-23T15:00:00+03:00"


@pytest.mark.usefixtures("places")
async def test_check_reads_a_time_without_zone_as_the_conditions_local_time(
    service: TimeConditionService,
) -> None:
    await service.add(office())

    evening = await service.check("office", dt.datetime(2026, 11, 23, 18, 30))
    morning = await service.check("office", dt.datetime(2026, 11, 23, 9, 30))
    new_year = await service.check("office", dt.datetime(2026, 12, 31, 12, 0))
    aware = await service.check("office", dt.datetime(2026, 11, 23, 6, 30, tzinfo=dt.UTC))

    assert (evening.inside, evening.destination) == (False, to("extension:101"))
    assert (morning.inside, morning.destination) == (True, to("ivr:day"))
    assert new_year.holiday
    assert new_year.destination == to("extension:101")
    assert aware.inside, "06:30 UTC is 09:30 in Moscow"


async def test_check_of_a_missing_condition_is_not_found(service: TimeConditionService) -> None:
    with pytest.raises(NotFoundError, match="time condition office does not exist"):
        await service.check("office")


@pytest.mark.usefixtures("places")
@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"name": "Office"}, "name", "lower case"),
        ({"number": "x"}, "number", "1 to 20 digits"),
        ({"timezone": "Europe/Moskow"}, "timezone", "did you mean Europe/Moscow"),
        ({"rules": ()}, "rules", "at least one rule"),
        ({"rules": (WeeklyRule.parse("mon 09:00-10:00"),) * 51}, "rules", "at most 50"),
        ({"holidays": (dt.date(2026, 1, 1),) * 1001}, "holidays", "at most 1000"),
        ({"match_destination": to("timecond:office")}, "match", "cannot send calls to itself"),
        ({"nomatch_destination": to("timecond:office")}, "nomatch", "cannot send calls to itself"),
        ({"match_destination": to("ivr:gone")}, "match", "there is no menu gone"),
        ({"nomatch_destination": to("extension:199")}, "nomatch", "there is no extension 199"),
        ({"nomatch_destination": to("timecond:other")}, "nomatch", "no time condition other"),
    ],
)
async def test_bad_conditions_are_refused_with_the_field_named(
    service: TimeConditionService, changes: dict[str, object], field: str, says: str
) -> None:
    with pytest.raises(ValidationError, match=says) as caught:
        await service.add(office(**changes))

    assert caught.value.field == field
    assert await service.list() == []


@pytest.mark.usefixtures("places")
async def test_update_replaces_the_condition_and_keeps_its_number(
    service: TimeConditionService,
) -> None:
    await service.add(office())
    changed = office(rules=(WeeklyRule.parse("mon-sun 00:00-24:00"),), holidays=())

    await service.update(changed)

    assert await service.get("office") == changed
    with pytest.raises(NotFoundError):
        await service.update(office(name="other"))
    with pytest.raises(ConflictError, match="time condition office already exists"):
        await service.add(office(number=None))


@pytest.mark.usefixtures("places")
async def test_conditions_may_lead_to_each_other_and_deleting_one_in_use_is_refused(
    service: TimeConditionService, db: Database
) -> None:
    await service.add(office())
    await service.add(office(name="holidays", number=None, match_destination=to("timecond:office")))
    await IvrService(db=db).update(IvrMenu(name="night", timeout_destination=to("timecond:office")))

    with pytest.raises(
        ConflictError, match="time condition office is still used by menu night, time condition"
    ):
        await service.delete("office")
    with pytest.raises(ConflictError, match="menu day is still used by time condition office;"):
        await IvrService(db=db).delete("day")

    await service.delete("holidays")
    await IvrService(db=db).update(IvrMenu(name="night"))
    await service.delete("office")
    assert await service.list() == []
    with pytest.raises(NotFoundError):
        await service.delete("office")


@pytest.mark.usefixtures("places")
async def test_every_committed_change_is_reported_by_name(db: Database) -> None:
    changed: list[str] = []
    service = TimeConditionService(db=db, on_change=changed.append)

    await service.add(office())
    await service.update(office(number=None))
    await service.delete("office")

    assert changed == ["office", "office", "office"]
