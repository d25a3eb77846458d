"""DialPlanService: numbers to menus and time conditions, and menus and conditions by name."""

from __future__ import annotations

import datetime as dt

from ringfort.apps.ivr.config import IvrMenu, MenuOption
from ringfort.apps.ports import AppDirectory
from ringfort.apps.timecond import TimeCondition, WeeklyRule
from ringfort.pbx.destination import Destination, DestinationKind
from ringfort.pbx.ports import DialPlan
from ringfort.services.database import Database
from ringfort.services.dialplan import DialPlanService
from ringfort.services.extensions import ExtensionService
from ringfort.services.ivr import IvrService
from ringfort.services.timecond import TimeConditionService

MAIN = IvrMenu(
    name="main",
    number="700",
    options=(MenuOption("1", Destination.parse("extension:101")),),
    direct_dial=False,
)
OFFICE = TimeCondition(
    name="office",
    timezone="UTC",
    rules=(WeeklyRule.parse("mon-fri 09:00-18:00"),),
    match_destination=Destination.parse("ivr:main"),
    nomatch_destination=Destination.parse("hangup"),
    holidays=(dt.date(2026, 12, 31),),
    number="710",
)


async def stock(db: Database) -> None:
    await ExtensionService(db=db).add("101", "Alice", "secret123")
    await IvrService(db=db).add(MAIN)
    await TimeConditionService(db=db).add(OFFICE)


async def test_numbers_resolve_to_their_menu_or_time_condition(db: Database) -> None:
    await stock(db)
    plan: DialPlan = DialPlanService(db)

    assert await plan.resolve("700") == Destination(DestinationKind.IVR, "main")
    assert await plan.resolve("710") == Destination(DestinationKind.TIMECOND, "office")
    assert await plan.resolve("101") is None, "extensions are the call core's own business"
    assert await plan.resolve("799") is None


async def test_applications_read_menus_and_conditions_as_stored(db: Database) -> None:
    await stock(db)
    directory: AppDirectory = DialPlanService(db)

    assert await directory.menu("main") == MAIN
    assert await directory.time_condition("office") == OFFICE
    assert await directory.menu("office") is None
    assert await directory.time_condition("main") is None
    assert await directory.extension_exists("101")
    assert not await directory.extension_exists("700")


async def test_a_change_applies_to_the_next_lookup(db: Database) -> None:
    await stock(db)
    plan = DialPlanService(db)
    assert await plan.menu("main") == MAIN

    changed = IvrMenu(name="main", number="701", greeting=("digits/7",))
    await IvrService(db=db).update(changed)

    assert await plan.menu("main") == changed
    assert await plan.resolve("700") is None
    assert await plan.resolve("701") == Destination(DestinationKind.IVR, "main")
