"""Queries on each table, one repository per model.

A repository works inside the session it is given and never commits: the
service that called it decides where a unit of work ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypedDict

from sqlalchemy import Insert, delete, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from ringfort.db.models import (
    BlockedAddress,
    Cdr,
    Did,
    Extension,
    IvrMenu,
    IvrOption,
    Queue,
    Registration,
    TimeCondition,
    utc_now,
)


class RegistrationValues(TypedDict):
    """The columns of one registration, as the registrar knows them."""

    number: str
    contact: str
    expires_at: float
    call_id: str
    cseq: int
    q: float | None
    transport: str
    source_host: str
    source_port: int
    behind_nat: bool
    user_agent: str | None


class BlockValues(TypedDict):
    """The columns of one blocked address that a block carries."""

    address: str
    blocked_until: float
    failures: int
    reason: str


def _upsert(
    session: AsyncSession,
    model: type[Any],
    conflict_columns: list[str],
    *,
    keep: Iterable[str] = (),
) -> Insert:
    """``INSERT ... ON CONFLICT DO UPDATE`` in the session's dialect.

    Columns in ``keep`` retain their stored value when the row exists.

    Both SQLite and PostgreSQL have it, and it is one statement where a
    select-then-write would need two round trips and could race.
    """
    dialect = session.get_bind().dialect.name
    # On the Table, not the mapped class: a Core executemany, without the
    # ORM's bulk-insert bookkeeping, which cost more than the write itself.
    table = model.__table__
    if dialect == "sqlite":
        sqlite_insert = sqlite.insert(table)
        excluded: Any = sqlite_insert.excluded
        statement: Any = sqlite_insert
    elif dialect == "postgresql":
        pg_insert = postgresql.insert(table)
        excluded = pg_insert.excluded
        statement = pg_insert
    else:
        raise NotImplementedError(f"upsert is not implemented for {dialect}")
    fixed = {*conflict_columns, *keep}
    updates = {
        column.name: excluded[column.name]
        for column in model.__table__.columns
        if column.name not in fixed and not column.primary_key
    }
    result: Insert = statement.on_conflict_do_update(index_elements=conflict_columns, set_=updates)
    return result


class ExtensionRepository:
    """Extensions by number."""

    def __init__(self, *, session: AsyncSession) -> None:
        self._session = session

    async def get(self, number: str) -> Extension | None:
        """The extension with ``number``, or None."""
        result = await self._session.scalars(select(Extension).where(Extension.number == number))
        return result.one_or_none()

    async def list(self) -> Sequence[Extension]:
        """Every extension, shorter numbers first, then in digit order (101, 102, 1000)."""
        result = await self._session.scalars(
            select(Extension).order_by(func.length(Extension.number), Extension.number)
        )
        return result.all()

    async def call_core_view(self) -> dict[str, Extension]:
        """Every extension by number, with only what the call core's snapshot reads loaded
        (SIP password, name, voicemail switch, ring time, forwarding)."""
        result = await self._session.scalars(
            select(Extension).options(
                load_only(
                    Extension.number,
                    Extension.sip_password,
                    Extension.name,
                    Extension.voicemail_enabled,
                    Extension.ring_seconds,
                    Extension.dnd,
                    Extension.forward_always,
                    Extension.forward_busy,
                    Extension.forward_no_answer,
                )
            )
        )
        return {extension.number: extension for extension in result}

    async def change_stamp(self) -> tuple[int, datetime | None]:
        """Changes whenever an extension is added, removed or updated.

        A count and the newest ``updated_at``: cheap enough to poll every
        second, and an add, a removal or an edit each moves one of them.
        """
        row = (
            await self._session.execute(
                select(func.count(Extension.id), func.max(Extension.updated_at))
            )
        ).one()
        return int(row[0]), row[1]

    async def exists(self, number: str) -> bool:
        """True when ``number`` is taken."""
        found = await self._session.scalar(
            select(Extension.id).where(Extension.number == number).limit(1)
        )
        return found is not None

    def add(self, extension: Extension) -> None:
        """Stage a new extension; it is written at the next flush or commit."""
        self._session.add(extension)

    async def delete(self, extension: Extension) -> None:
        """Stage the removal of ``extension``."""
        await self._session.delete(extension)


class RegistrationRepository:
    """Bindings of contacts to extensions."""

    def __init__(self, *, session: AsyncSession) -> None:
        self._session = session

    async def list(self) -> Sequence[Registration]:
        """Every stored binding, lapsed ones included, by number and contact."""
        result = await self._session.scalars(
            select(Registration).order_by(Registration.number, Registration.contact)
        )
        return result.all()

    async def list_active(self, now: float) -> Sequence[Registration]:
        """Bindings that have not lapsed at ``now``, by number and contact."""
        result = await self._session.scalars(
            select(Registration)
            .where(Registration.expires_at > now)
            .order_by(Registration.number, Registration.contact)
        )
        return result.all()

    async def upsert(self, bindings: Iterable[RegistrationValues]) -> None:
        """Insert each binding, or replace the one with the same number and contact."""
        rows = [{**binding, "updated_at": utc_now()} for binding in bindings]
        if rows:
            statement = _upsert(self._session, Registration, ["number", "contact"])
            await self._session.execute(statement, rows)

    async def delete(self, keys: Iterable[tuple[str, str]]) -> None:
        """Delete the bindings named by ``(number, contact)`` pairs; missing ones are ignored."""
        pairs = list(keys)
        if pairs:
            await self._session.execute(
                delete(Registration).where(
                    tuple_(Registration.number, Registration.contact).in_(pairs)
                )
            )

    async def delete_for_number(self, number: str) -> None:
        """Delete every binding of ``number``."""
        await self._session.execute(delete(Registration).where(Registration.number == number))

    async def delete_lapsed(self, now: float) -> None:
        """Delete bindings that lapsed before ``now``."""
        await self._session.execute(delete(Registration).where(Registration.expires_at <= now))


class CdrRepository:
    """Call detail records."""

    def __init__(self, *, session: AsyncSession) -> None:
        self._session = session

    def add(self, cdr: Cdr) -> None:
        """Stage a new record."""
        self._session.add(cdr)

    async def get(self, uniqueid: str) -> Cdr | None:
        """The record with ``uniqueid``, or None."""
        result = await self._session.scalars(select(Cdr).where(Cdr.uniqueid == uniqueid))
        return result.one_or_none()

    async def list(self, *, since: datetime | None = None, limit: int = 1000) -> Sequence[Cdr]:
        """The newest ``limit`` records that started at or after ``since``, newest first."""
        statement = select(Cdr).order_by(Cdr.start.desc(), Cdr.id.desc()).limit(limit)
        if since is not None:
            statement = statement.where(Cdr.start >= since)
        result = await self._session.scalars(statement)
        return result.all()


class BlockedAddressRepository:
    """Addresses refused after failed authentication."""

    def __init__(self, *, session: AsyncSession) -> None:
        self._session = session

    async def list(self) -> Sequence[BlockedAddress]:
        """Every stored block, ended ones included, by address."""
        result = await self._session.scalars(
            select(BlockedAddress).order_by(BlockedAddress.address)
        )
        return result.all()

    async def list_active(self, now: float) -> Sequence[BlockedAddress]:
        """Blocks still in force at ``now``, by address."""
        result = await self._session.scalars(
            select(BlockedAddress)
            .where(BlockedAddress.blocked_until > now)
            .order_by(BlockedAddress.address)
        )
        return result.all()

    async def upsert(self, block: BlockValues) -> None:
        """Record a block, or extend the one already stored for the address.

        ``blocked_at`` is kept from the first block so an extended block still
        shows when the trouble started.
        """
        statement = _upsert(self._session, BlockedAddress, ["address"], keep=["blocked_at"])
        await self._session.execute(statement, [{**block, "blocked_at": utc_now()}])

    async def delete(self, address: str) -> None:
        """Forget the block of ``address``; nothing happens if there is none."""
        await self._session.execute(delete(BlockedAddress).where(BlockedAddress.address == address))


class IvrMenuRepository:
    """Auto-attendant menus by name, each loaded with its options."""

    def __init__(self, *, session: AsyncSession) -> None:
        self._session = session

    async def get(self, name: str) -> IvrMenu | None:
        """The menu called ``name``, or None."""
        result = await self._session.scalars(select(IvrMenu).where(IvrMenu.name == name))
        return result.one_or_none()

    async def get_by_number(self, number: str) -> IvrMenu | None:
        """The menu ``number`` reaches, or None."""
        result = await self._session.scalars(select(IvrMenu).where(IvrMenu.number == number))
        return result.one_or_none()

    async def list(self) -> Sequence[IvrMenu]:
        """Every menu, by name."""
        result = await self._session.scalars(select(IvrMenu).order_by(IvrMenu.name))
        return result.all()

    def add(self, menu: IvrMenu) -> None:
        """Stage a new menu (and the options attached to it)."""
        self._session.add(menu)

    async def delete(self, menu: IvrMenu) -> None:
        """Stage the removal of ``menu``; the database removes its options with it."""
        await self._session.delete(menu)


class TimeConditionRepository:
    """Time conditions by name."""

    def __init__(self, *, session: AsyncSession) -> None:
        self._session = session

    async def get(self, name: str) -> TimeCondition | None:
        """The time condition called ``name``, or None."""
        result = await self._session.scalars(
            select(TimeCondition).where(TimeCondition.name == name)
        )
        return result.one_or_none()

    async def get_by_number(self, number: str) -> TimeCondition | None:
        """The time condition ``number`` reaches, or None."""
        result = await self._session.scalars(
            select(TimeCondition).where(TimeCondition.number == number)
        )
        return result.one_or_none()

    async def list(self) -> Sequence[TimeCondition]:
        """Every time condition, by name."""
        result = await self._session.scalars(select(TimeCondition).order_by(TimeCondition.name))
        return result.all()

    def add(self, condition: TimeCondition) -> None:
        """Stage a new time condition."""
        self._session.add(condition)

    async def delete(self, condition: TimeCondition) -> None:
        """Stage the removal of ``condition``."""
        await self._session.delete(condition)


PLAN_EXTENSION = "extension"
PLAN_MENU = "ivr"
PLAN_TIME_CONDITION = "timecond"
PLAN_QUEUE = "queue"
PLAN_DID = "did"
"""The kinds of entry in the number plan, spelt as destinations spell them (a DID is not a
destination: it only has a number)."""


class PlanEntry(NamedTuple):
    """Something a caller can be sent to: an extension, a menu or a time condition."""

    kind: str
    """:data:`PLAN_EXTENSION`, :data:`PLAN_MENU` or :data:`PLAN_TIME_CONDITION`."""
    name: str
    """The extension's number, or the menu's or time condition's name."""
    number: str | None
    """The number that reaches it, if any (an extension's is its name)."""


class NumberPlanRepository:
    """The one number space extensions, menus and time conditions share, and who refers to whom.

    Destinations are compared in their text form (``ivr:sales``); the store does
    not interpret them.
    """

    def __init__(self, *, session: AsyncSession) -> None:
        self._session = session

    async def entries(self) -> list[PlanEntry]:
        """Every extension, menu and time condition with its number."""
        extensions = await self._session.scalars(select(Extension.number))
        menus = await self._session.execute(select(IvrMenu.name, IvrMenu.number))
        conditions = await self._session.execute(select(TimeCondition.name, TimeCondition.number))
        found = [PlanEntry(PLAN_EXTENSION, number, number) for number in extensions]
        found += [PlanEntry(PLAN_MENU, name, number) for name, number in menus]
        found += [PlanEntry(PLAN_TIME_CONDITION, name, number) for name, number in conditions]
        queues = await self._session.execute(select(Queue.name, Queue.number))
        found += [PlanEntry(PLAN_QUEUE, name, number) for name, number in queues]
        dids = await self._session.scalars(select(Did.number))
        found += [PlanEntry(PLAN_DID, number, number) for number in dids]
        return found

    async def owner(self, number: str) -> PlanEntry | None:
        """The extension, menu or time condition ``number`` belongs to, or None."""
        if await ExtensionRepository(session=self._session).exists(number):
            return PlanEntry(PLAN_EXTENSION, number, number)
        menu = await self._session.scalar(select(IvrMenu.name).where(IvrMenu.number == number))
        if menu is not None:
            return PlanEntry(PLAN_MENU, menu, number)
        condition = await self._session.scalar(
            select(TimeCondition.name).where(TimeCondition.number == number)
        )
        if condition is not None:
            return PlanEntry(PLAN_TIME_CONDITION, condition, number)
        queue = await self._session.scalar(select(Queue.name).where(Queue.number == number))
        if queue is not None:
            return PlanEntry(PLAN_QUEUE, queue, number)
        if await self._session.scalar(select(Did.id).where(Did.number == number)) is not None:
            return PlanEntry(PLAN_DID, number, number)
        return None

    async def referrers(self, destination: str) -> list[PlanEntry]:
        """Menus, time conditions, queues (overflow, exit key) and DIDs that send calls to
        ``destination``, by kind and name."""
        by_option = (
            select(IvrMenu.name, IvrMenu.number)
            .join(IvrOption)
            .where(_leads_to(IvrOption.destination, destination))
        )
        by_menu = select(IvrMenu.name, IvrMenu.number).where(
            _leads_to(IvrMenu.timeout_destination, destination)
            | _leads_to(IvrMenu.invalid_destination, destination)
        )
        by_condition = (
            select(TimeCondition.name, TimeCondition.number)
            .where(
                _leads_to(TimeCondition.match_destination, destination)
                | _leads_to(TimeCondition.nomatch_destination, destination)
            )
            .order_by(TimeCondition.name)
        )
        menus = {*(await self._session.execute(by_option)), *(await self._session.execute(by_menu))}
        conditions = await self._session.execute(by_condition)
        found = [PlanEntry(PLAN_MENU, name, number) for name, number in sorted(menus)]
        found += [PlanEntry(PLAN_TIME_CONDITION, name, number) for name, number in conditions]
        by_queue = (
            select(Queue.name, Queue.number)
            .where(
                _leads_to(Queue.overflow, destination)
                | _leads_to(Queue.exit_destination, destination)
            )
            .order_by(Queue.name)
        )
        found += [
            PlanEntry(PLAN_QUEUE, name, number)
            for name, number in await self._session.execute(by_queue)
        ]
        by_did = select(Did.number).where(_leads_to(Did.destination, destination))
        found += [
            PlanEntry(PLAN_DID, number, number)
            for number in await self._session.scalars(by_did.order_by(Did.number))
        ]
        return found


def _leads_to(column: Any, destination: str) -> Any:
    """``column`` holds ``destination``, with or without options (``queue:sales;priority=5``)."""
    return (column == destination) | column.startswith(destination + ";", autoescape=True)
