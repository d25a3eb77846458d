"""The dial plan as the call core and applications read it: numbers, menus, time conditions.

:class:`DialPlanService` is the call core's ``DialPlan`` (a dialled number that
is not an extension: which menu or time condition it reaches) and the
applications' ``AppDirectory`` (a menu or time condition by name), in one object.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from ringfort.apps.ivr.config import IvrMenu
from ringfort.apps.timecond import TimeCondition
from ringfort.db.models import Did, Queue
from ringfort.db.repositories import (
    ExtensionRepository,
    IvrMenuRepository,
    TimeConditionRepository,
)
from ringfort.pbx.destination import Destination, DestinationKind
from ringfort.services.database import Database
from ringfort.services.ivr import menu_from_row
from ringfort.services.timecond import time_condition_from_row

log = logging.getLogger(__name__)

__all__ = ["DialPlanService"]


class DialPlanService:
    """Reads menus and time conditions from the database for calls.

    Read on every call, not cached: a menu changed from the CLI or the API (in
    this process or another node's) applies to the next caller at once, and a
    menu is a couple of small indexed rows.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def resolve(self, number: str) -> Destination | None:
        """The menu, time condition, queue or DID ``number`` reaches (a DID: where it routes
        to), or None."""
        async with self._db.session() as session:
            menu = await IvrMenuRepository(session=session).get_by_number(number)
            if menu is not None:
                return Destination(DestinationKind.IVR, menu.name)
            condition = await TimeConditionRepository(session=session).get_by_number(number)
            if condition is not None:
                return Destination(DestinationKind.TIMECOND, condition.name)
            queue = await session.scalar(select(Queue.name).where(Queue.number == number))
            if queue is not None:
                return Destination(DestinationKind.QUEUE, queue)
            routed = await session.scalar(select(Did.destination).where(Did.number == number))
        if routed is not None:
            try:
                return Destination.parse(routed)
            except ValueError:
                log.warning("DID %s has a destination that cannot be read: %r", number, routed)
        return None

    async def menu(self, name: str) -> IvrMenu | None:
        """The menu called ``name``, or None if there is none."""
        async with self._db.session() as session:
            row = await IvrMenuRepository(session=session).get(name)
            return None if row is None else menu_from_row(row)

    async def time_condition(self, name: str) -> TimeCondition | None:
        """The time condition called ``name``, or None if there is none."""
        async with self._db.session() as session:
            row = await TimeConditionRepository(session=session).get(name)
            return None if row is None else time_condition_from_row(row)

    async def extension_exists(self, number: str) -> bool:
        """Whether ``number`` is an extension (what a menu's direct dial may reach)."""
        async with self._db.session() as session:
            return await ExtensionRepository(session=session).exists(number)
