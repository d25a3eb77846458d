"""Menu, option and time-condition tables: constraints, cascades, the number plan queries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ringfort.db import migrate
from ringfort.db.engine import make_engine, make_session_factory
from ringfort.db.models import Extension, IvrMenu, IvrOption, TimeCondition
from ringfort.db.repositories import (
    PLAN_EXTENSION,
    PLAN_MENU,
    PLAN_TIME_CONDITION,
    IvrMenuRepository,
    NumberPlanRepository,
    PlanEntry,
    TimeConditionRepository,
)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await migrate.upgrade(database_url)
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    await engine.dispose()


def a_menu(name: str, number: str | None = None, options: dict[str, str] | None = None) -> IvrMenu:
    menu = IvrMenu(
        name=name,
        number=number,
        language="en",
        greeting='["welcome"]',
        direct_dial=True,
        digit_timeout=5.0,
        interdigit_timeout=2.0,
        timeout_retries=2,
        timeout_prompt='["no-input"]',
        timeout_destination="hangup",
        invalid_retries=2,
        invalid_prompt='["invalid"]',
        invalid_destination="hangup",
    )
    menu.options = [
        IvrOption(digits=digits, destination=destination)
        for digits, destination in (options or {}).items()
    ]
    return menu


def a_condition(name: str, number: str | None = None, match: str = "hangup") -> TimeCondition:
    return TimeCondition(
        name=name,
        number=number,
        timezone="UTC",
        rules='["mon-fri 09:00-18:00"]',
        holidays="[]",
        match_destination=match,
        nomatch_destination="hangup",
    )


async def test_a_menu_comes_back_with_its_options_in_key_order(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        IvrMenuRepository(session=session).add(
            a_menu("main", "700", {"2": "ivr:sales", "1": "extension:101"})
        )
        await session.commit()
    async with sessions() as session:
        menu = await IvrMenuRepository(session=session).get_by_number("700")

    assert menu is not None
    assert [(option.digits, option.destination) for option in menu.options] == [
        ("1", "extension:101"),
        ("2", "ivr:sales"),
    ]


async def test_deleting_a_menu_deletes_its_options_in_the_database(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        session.add(a_menu("main", options={"1": "extension:101", "#": "hangup"}))
        await session.commit()
    async with sessions() as session:
        # Core DELETE, not the ORM: the foreign key's ON DELETE CASCADE must do the work.
        await session.execute(IvrMenu.__table__.delete())
        await session.commit()
        left = await session.scalar(select(func.count()).select_from(IvrOption))

    assert left == 0


async def test_one_menu_cannot_have_the_same_keys_twice(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        menu = a_menu("main")
        menu.options = [
            IvrOption(digits="1", destination="hangup"),
            IvrOption(digits="1", destination="extension:101"),
        ]
        session.add(menu)
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_names_and_numbers_are_unique_per_table(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    for first, second in [
        (a_menu("main"), a_menu("main")),
        (a_menu("a", "700"), a_menu("b", "700")),
        (a_condition("office"), a_condition("office")),
        (a_condition("a", "710"), a_condition("b", "710")),
    ]:
        async with sessions() as session:
            session.add(first)
            await session.commit()
        async with sessions() as session:
            session.add(second)
            with pytest.raises(IntegrityError):
                await session.commit()
        async with sessions() as session:
            await session.execute(IvrMenu.__table__.delete())
            await session.execute(TimeCondition.__table__.delete())
            await session.commit()


async def test_many_menus_and_conditions_may_have_no_number(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        session.add_all([a_menu("a"), a_menu("b"), a_condition("c"), a_condition("d")])
        await session.commit()
        menus = await IvrMenuRepository(session=session).list()
        conditions = await TimeConditionRepository(session=session).list()

    assert [menu.name for menu in menus] == ["a", "b"]
    assert [condition.name for condition in conditions] == ["c", "d"]


async def test_the_number_plan_knows_every_owner_of_a_number(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        session.add(Extension(number="101", name="Alice", sip_password="secret123"))
        session.add_all([a_menu("main", "700"), a_menu("quiet"), a_condition("office", "710")])
        await session.commit()
        plan = NumberPlanRepository(session=session)

        assert await plan.owner("101") == PlanEntry(PLAN_EXTENSION, "101", "101")
        assert await plan.owner("700") == PlanEntry(PLAN_MENU, "main", "700")
        assert await plan.owner("710") == PlanEntry(PLAN_TIME_CONDITION, "office", "710")
        assert await plan.owner("999") is None
        assert sorted(await plan.entries()) == [
            PlanEntry(PLAN_EXTENSION, "101", "101"),
            PlanEntry(PLAN_MENU, "main", "700"),
            PlanEntry(PLAN_MENU, "quiet", None),
            PlanEntry(PLAN_TIME_CONDITION, "office", "710"),
        ]


async def test_referrers_are_found_by_option_fallback_and_condition(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        by_option = a_menu("main", options={"1": "ivr:sales", "2": "ivr:sales"})
        by_timeout = a_menu("lobby")
        by_timeout.invalid_destination = "ivr:sales"
        unrelated = a_menu("other", options={"1": "ivr:salesforce"})
        session.add_all(
            [by_option, by_timeout, unrelated, a_condition("office", match="ivr:sales")]
        )
        await session.commit()

        found = await NumberPlanRepository(session=session).referrers("ivr:sales")

    assert found == [
        PlanEntry(PLAN_MENU, "lobby", None),
        PlanEntry(PLAN_MENU, "main", None),
        PlanEntry(PLAN_TIME_CONDITION, "office", None),
    ]
