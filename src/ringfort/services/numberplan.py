"""The one number space and the references between menus, time conditions and extensions.

An extension number, a menu's number and a time condition's number must never
be the same: the dial plan could not tell where a call for it goes. Menus and
time conditions may only send calls to places that exist, and a menu or time
condition something still sends calls to cannot be removed. The database
cannot say so across three tables, so every service that changes one of them
checks here, inside its own transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from ringfort.db.repositories import (
    PLAN_DID,
    PLAN_EXTENSION,
    PLAN_MENU,
    PLAN_QUEUE,
    PLAN_TIME_CONDITION,
    NumberPlanRepository,
    PlanEntry,
)
from ringfort.errors import ConflictError, ValidationError
from ringfort.pbx.destination import Destination, DestinationKind

__all__ = ["NumberPlan", "describe", "ensure_number_free", "ensure_unreferenced"]

_WHAT = {
    PLAN_EXTENSION: "extension",
    PLAN_MENU: "menu",
    PLAN_TIME_CONDITION: "time condition",
    PLAN_QUEUE: "queue",
    PLAN_DID: "DID",
}
_KIND_OF_DESTINATION = {
    DestinationKind.EXTENSION: PLAN_EXTENSION,
    DestinationKind.IVR: PLAN_MENU,
    DestinationKind.TIMECOND: PLAN_TIME_CONDITION,
    DestinationKind.QUEUE: PLAN_QUEUE,
    DestinationKind.VOICEMAIL: PLAN_EXTENSION,
}


def describe(entry: PlanEntry) -> str:
    """``extension 101``, ``menu main``, ``time condition office``."""
    return f"{_WHAT[entry.kind]} {entry.name}"


class NumberPlan:
    """Who has which number and which names exist, as one change (or an import) would leave it.

    Loaded from the database, then items about to be written are put in over
    what is stored, so a batch can be checked as a whole: menus that refer to
    each other, or a number moving from one menu to another.
    """

    def __init__(self, entries: Iterable[PlanEntry]) -> None:
        self._entries: dict[tuple[str, str], PlanEntry] = {
            (entry.kind, entry.name): entry for entry in entries
        }

    @classmethod
    async def load(cls, session: AsyncSession) -> NumberPlan:
        """The plan as stored."""
        return cls(await NumberPlanRepository(session=session).entries())

    def copy(self) -> NumberPlan:
        """A plan of the same entries that changes apart from this one."""
        return NumberPlan(self._entries.values())

    def get(self, kind: str, name: str) -> PlanEntry | None:
        """The entry of that kind and name, or None."""
        return self._entries.get((kind, name))

    def put(self, entry: PlanEntry) -> None:
        """Add ``entry``, or replace the one of the same kind and name."""
        self._entries[(entry.kind, entry.name)] = entry

    def drop(self, kind: str, name: str) -> None:
        """Remove the entry of that kind and name, if there is one."""
        self._entries.pop((kind, name), None)

    def owners(self, number: str) -> list[PlanEntry]:
        """Every entry that has ``number`` (more than one only in a plan being checked)."""
        return [entry for entry in self._entries.values() if entry.number == number]

    def check_number(self, number: str | None, *, itself: tuple[str, str]) -> None:
        """ConflictError unless ``number`` is free for ``itself`` (kind, name)."""
        if number is None:
            return
        for owner in self.owners(number):
            if (owner.kind, owner.name) != itself:
                raise ConflictError(
                    f"number {number} already belongs to {describe(owner)}; choose another"
                    f" number or change that one first"
                )

    def check_destinations(
        self, destinations: Iterable[tuple[str, Destination]], *, itself: tuple[str, str]
    ) -> None:
        """ValidationError naming the field of the first destination that leads nowhere.

        ``itself`` counts as existing, so a menu may lead back to itself.
        """
        for field, destination in destinations:
            kind = _KIND_OF_DESTINATION.get(destination.kind)
            if kind is None or not destination.target or (kind, destination.target) == itself:
                continue
            if self.get(kind, destination.target) is not None:
                continue
            message = (
                f"{field} is {destination}, but there is no {_WHAT[kind]} {destination.target}"
            )
            if kind == PLAN_EXTENSION:
                # A menu's number is not an extension: say which destination to use instead.
                for owner in self.owners(destination.target):
                    message += f" ({destination.target} is the number of {describe(owner)})"
                    break
            raise ValidationError(
                f"{message}; add the {_WHAT[kind]} first, or choose another destination",
                field=field,
            )


async def ensure_number_free(session: AsyncSession, number: str) -> None:
    """ConflictError when ``number`` already belongs to an extension, a menu or a time condition."""
    owner = await NumberPlanRepository(session=session).owner(number)
    if owner is not None:
        raise ConflictError(
            f"number {number} already belongs to {describe(owner)}; choose another number"
        )


async def ensure_unreferenced(session: AsyncSession, target: Destination, what: str) -> None:
    """ConflictError naming every menu and time condition that still sends calls to ``target``.

    ``what`` is how the target is called in the message (``menu sales``); a menu
    or condition that refers only to itself does not count.
    """
    itself = (_KIND_OF_DESTINATION.get(target.kind), target.target)
    referrers = [
        describe(entry)
        for entry in await NumberPlanRepository(session=session).referrers(str(target))
        if (entry.kind, entry.name) != itself
    ]
    if referrers:
        raise ConflictError(
            f"{what} is still used by {', '.join(referrers)}; change or delete them first"
        )
