"""Inbound numbers (DIDs): a number and where its calls go.

A DID shares the one number plan with extensions, menus, time conditions and queues:
its number is its own, and the menu or queue it sends calls to cannot be deleted while
it does. Calls to a DID's number go to its destination like any dialled number; with
SIP trunks (not built yet) they are the numbers callers from outside dial.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ringfort.db.models import Did
from ringfort.db.repositories import PLAN_DID
from ringfort.errors import NotFoundError, ValidationError
from ringfort.pbx.destination import Destination, is_number
from ringfort.services.database import Database
from ringfort.services.numberplan import NumberPlan

__all__ = ["DidService", "DidView"]

DESCRIPTION_LENGTH = 160


@dataclass(frozen=True, slots=True)
class DidView:
    """A DID as the CLI and the API show it."""

    number: str
    destination: str
    description: str
    created_at: datetime


def _view(row: Did) -> DidView:
    return DidView(row.number, row.destination, row.description, row.created_at)


def _destination(text: str) -> Destination:
    try:
        return Destination.parse(text)
    except ValueError as error:
        raise ValidationError(str(error), field="destination") from None


def _description(text: str) -> str:
    text = text.strip()
    if len(text) > DESCRIPTION_LENGTH:
        raise ValidationError(
            f"a description is at most {DESCRIPTION_LENGTH} characters", field="description"
        )
    return text


class DidService:
    """Adds, lists, changes and removes DIDs."""

    def __init__(self, *, db: Database) -> None:
        self._db = db

    async def add(self, number: str, destination: str, description: str = "") -> DidView:
        """A new DID; ValidationError for a bad number or a destination that leads nowhere,
        ConflictError when the number is taken."""
        if not is_number(number):
            raise ValidationError(f"{number!r} is not a number (1 to 20 digits)", field="number")
        target = _destination(destination)
        async with self._db.session() as session, session.begin():
            plan = await NumberPlan.load(session)
            # A new DID is nothing in the plan yet: an existing one of that number clashes.
            plan.check_number(number, itself=(PLAN_DID, ""))
            plan.check_destinations([("destination", target)], itself=(PLAN_DID, number))
            row = Did(number=number, destination=str(target), description=_description(description))
            session.add(row)
            await session.flush()
            return _view(row)

    async def list(self) -> builtins.list[DidView]:
        """Every DID, by number."""
        async with self._db.session() as session:
            rows = (await session.scalars(select(Did).order_by(Did.number))).all()
        return [_view(row) for row in rows]

    async def get(self, number: str) -> DidView:
        """One DID; NotFoundError naming it."""
        async with self._db.session() as session:
            return _view(await _row(session, number))

    async def update(
        self, number: str, *, destination: str | None = None, description: str | None = None
    ) -> DidView:
        """Change where a DID's calls go, or its description."""
        async with self._db.session() as session, session.begin():
            row = await _row(session, number)
            if destination is not None:
                target = _destination(destination)
                plan = await NumberPlan.load(session)
                plan.check_destinations([("destination", target)], itself=(PLAN_DID, number))
                row.destination = str(target)
            if description is not None:
                row.description = _description(description)
            await session.flush()
            return _view(row)

    async def remove(self, number: str) -> None:
        """Delete a DID."""
        async with self._db.session() as session, session.begin():
            await session.delete(await _row(session, number))


async def _row(session: AsyncSession, number: str) -> Did:
    row = await session.scalar(select(Did).where(Did.number == number))
    if row is None:
        raise NotFoundError(f"there is no DID {number}; see 'ringfort did list'")
    return row
