"""Time conditions: adding, changing, listing, deleting and asking which way one sends calls."""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import json
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ringfort.apps.timecond import TimeCheck, TimeCondition, WeeklyRule, zone
from ringfort.db import models
from ringfort.db.repositories import PLAN_TIME_CONDITION, PlanEntry, TimeConditionRepository
from ringfort.errors import ConflictError, NotFoundError, ValidationError
from ringfort.pbx.destination import Destination, DestinationKind
from ringfort.services.database import Database
from ringfort.services.ivr import validate_config_name, validate_config_number
from ringfort.services.numberplan import NumberPlan, ensure_unreferenced

__all__ = [
    "MAX_HOLIDAYS",
    "MAX_RULES",
    "TimeConditionService",
    "check_time_condition",
    "time_condition_from_row",
    "validate_time_condition",
    "write_time_condition",
]

MAX_RULES = 50
MAX_HOLIDAYS = 1000
"""Enough for years of public holidays; a longer list is a mistake."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def validate_time_condition(condition: TimeCondition) -> TimeCondition:
    """``condition`` with holidays sorted and de-duplicated, if it is acceptable on its own.

    ValidationError names the field at fault. Whether its number is free and its
    destinations exist is checked against the number plan, not here.
    """
    validate_config_name(condition.name, what="time condition")
    validate_config_number(condition.number)
    try:
        zone(condition.timezone)
    except ValueError as error:
        raise ValidationError(str(error), field="timezone") from None
    if not condition.rules:
        raise ValidationError(
            "a time condition needs at least one rule, e.g. 'mon-fri 09:00-18:00'", field="rules"
        )
    if len(condition.rules) > MAX_RULES:
        raise ValidationError(f"at most {MAX_RULES} rules", field="rules")
    if len(condition.holidays) > MAX_HOLIDAYS:
        raise ValidationError(f"at most {MAX_HOLIDAYS} holidays", field="holidays")
    for field, destination in condition.destinations():
        if destination == Destination(DestinationKind.TIMECOND, condition.name):
            raise ValidationError(
                f"{field}: a time condition cannot send calls to itself (they would go round"
                f" for ever); choose a menu, an extension or another time condition",
                field=field,
            )
    holidays = tuple(sorted(set(condition.holidays)))
    if holidays == condition.holidays:
        return condition
    return dataclasses.replace(condition, holidays=holidays)


def check_time_condition(plan: NumberPlan, condition: TimeCondition) -> None:
    """ConflictError or ValidationError unless the number is free and both destinations exist."""
    itself = (PLAN_TIME_CONDITION, condition.name)
    plan.check_number(condition.number, itself=itself)
    plan.check_destinations(condition.destinations(), itself=itself)


def time_condition_from_row(row: models.TimeCondition) -> TimeCondition:
    """The time condition a stored row describes."""
    return TimeCondition(
        name=row.name,
        timezone=row.timezone,
        rules=tuple(WeeklyRule.parse(str(text)) for text in json.loads(row.rules)),
        match_destination=Destination.parse(row.match_destination),
        nomatch_destination=Destination.parse(row.nomatch_destination),
        holidays=tuple(dt.date.fromisoformat(str(day)) for day in json.loads(row.holidays)),
        number=row.number,
    )


async def write_time_condition(session: AsyncSession, condition: TimeCondition) -> bool:
    """Store ``condition`` over the row of its name, or as a new row; True when it is new.

    No checks and no commit: the caller validated it against the plan and ends
    the unit of work.
    """
    conditions = TimeConditionRepository(session=session)
    row = await conditions.get(condition.name)
    created = row is None
    if row is None:
        row = models.TimeCondition(name=condition.name)
    row.number = condition.number
    row.timezone = condition.timezone
    row.rules = json.dumps([str(rule) for rule in condition.rules])
    row.holidays = json.dumps([day.isoformat() for day in condition.holidays])
    row.match_destination = str(condition.match_destination)
    row.nomatch_destination = str(condition.nomatch_destination)
    if created:
        conditions.add(row)
    return created


class TimeConditionService:
    """The one place time conditions change, for the CLI, the REST API, the web UI and YAML.

    ``now`` is the clock :meth:`check` uses when given no time (a test hands in
    a fixed one); ``on_change`` is called with the name after every committed change.
    """

    def __init__(
        self,
        *,
        db: Database,
        now: Callable[[], dt.datetime] = _utc_now,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self._db = db
        self._now = now
        self._on_change = on_change

    def _changed(self, name: str) -> None:
        if self._on_change is not None:
            self._on_change(name)

    async def add(self, condition: TimeCondition) -> TimeCondition:
        """Add ``condition``; returns it as stored.

        ValidationError for a bad field or a destination that does not exist,
        ConflictError when the name or number is taken.
        """
        return await self._store(validate_time_condition(condition), create=True)

    async def update(self, condition: TimeCondition) -> TimeCondition:
        """Replace the time condition called ``condition.name``; NotFoundError if there is none."""
        return await self._store(validate_time_condition(condition), create=False)

    async def _store(self, condition: TimeCondition, *, create: bool) -> TimeCondition:
        name = condition.name
        async with self._db.session() as session:
            exists = await TimeConditionRepository(session=session).get(name) is not None
            if create and exists:
                raise ConflictError(
                    f"time condition {name} already exists; change it instead, or choose"
                    f" another name"
                )
            if not create and not exists:
                raise NotFoundError(_not_found(name))
            plan = await NumberPlan.load(session)
            plan.put(PlanEntry(PLAN_TIME_CONDITION, name, condition.number))
            check_time_condition(plan, condition)
            await write_time_condition(session, condition)
            try:
                await session.commit()
            except IntegrityError as exc:
                raise ConflictError(
                    f"time condition {name} or number {condition.number} was taken meanwhile;"
                    f" try again"
                ) from exc
        self._changed(name)
        return condition

    async def find(self, name: str) -> TimeCondition | None:
        """The time condition called ``name``, or None."""
        async with self._db.session() as session:
            row = await TimeConditionRepository(session=session).get(name)
            return None if row is None else time_condition_from_row(row)

    async def get(self, name: str) -> TimeCondition:
        """The time condition called ``name``; NotFoundError if there is none."""
        condition = await self.find(name)
        if condition is None:
            raise NotFoundError(_not_found(name))
        return condition

    async def list(self) -> builtins.list[TimeCondition]:
        """Every time condition, by name."""
        async with self._db.session() as session:
            rows = await TimeConditionRepository(session=session).list()
            return [time_condition_from_row(row) for row in rows]

    async def delete(self, name: str) -> None:
        """Delete the time condition ``name``, unless menus or conditions still send calls to it."""
        async with self._db.session() as session:
            conditions = TimeConditionRepository(session=session)
            row = await conditions.get(name)
            if row is None:
                raise NotFoundError(_not_found(name))
            await ensure_unreferenced(
                session, Destination(DestinationKind.TIMECOND, name), f"time condition {name}"
            )
            await conditions.delete(row)
            await session.commit()
        self._changed(name)

    async def check(self, name: str, at: dt.datetime | None = None) -> TimeCheck:
        """Which destination the condition ``name`` chooses at ``at`` (default: now), and why.

        A naive ``at`` is read as local time in the condition's own zone, which is
        what a person asking "what happens at 09:00" means.
        """
        condition = await self.get(name)
        if at is None:
            at = self._now()
        elif at.tzinfo is None:
            at = at.replace(tzinfo=zone(condition.timezone))
        return condition.check(at)


def _not_found(name: str) -> str:
    return f"time condition {name} does not exist; check the name against the list of them"
