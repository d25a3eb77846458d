"""Call detail records: writing one per call leg and reading them back."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.exc import IntegrityError

from ringfort.db.models import (
    CDR_CLID_LENGTH,
    CDR_ID_LENGTH,
    CDR_PARTY_LENGTH,
    Cdr,
)
from ringfort.db.repositories import CdrRepository
from ringfort.disposition import Disposition, HangupBy
from ringfort.errors import ConflictError, NotFoundError, ValidationError
from ringfort.services.database import Database
from ringfort.services.paging import Page, PageRequest, check_order

DEFAULT_LIST_LIMIT = 1000
CDR_SORTABLE = (
    "start", "answer", "end", "duration", "billsec", "src", "dst", "disposition", "uniqueid",
)  # fmt: skip
"""The fields a page of records may be sorted by; by default newest first."""
CDR_SEARCHED = ("uniqueid", "linkedid", "src", "dst", "clid")
"""The fields a search looks in."""


@dataclass(frozen=True, slots=True)
class CdrFilter:
    """Which records: started in ``[since, until)``, from ``src``, to ``dst``, ending so."""

    since: datetime | None = None
    until: datetime | None = None
    src: str | None = None
    dst: str | None = None
    disposition: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """The filter as SQL conditions on ``cdr``; ValidationError naming a bad field."""
        found: list[ColumnElement[bool]] = []
        if self.since is not None:
            _require_aware(self.since, "since")
            found.append(Cdr.start >= self.since)
        if self.until is not None:
            _require_aware(self.until, "until")
            found.append(Cdr.start < self.until)
        if self.src is not None:
            found.append(Cdr.src == self.src)
        if self.dst is not None:
            found.append(Cdr.dst == self.dst)
        if self.disposition is not None:
            try:
                found.append(Cdr.disposition == Disposition(self.disposition.upper()).value)
            except ValueError:
                raise ValidationError(
                    f"disposition {self.disposition!r}: use one of {', '.join(Disposition)}",
                    field="disposition",
                ) from None
        return found


def search_conditions(text: str | None, fields: tuple[str, ...]) -> list[ColumnElement[bool]]:
    """``text`` in any of ``fields`` of ``cdr``, ignoring case (LIKE wildcards taken literally)."""
    if not text:
        return []
    needle = text.lower()
    return [
        or_(*(func.lower(getattr(Cdr, name)).contains(needle, autoescape=True) for name in fields))
    ]


async def paged(
    db: Database, query: Select[Cdr], page: PageRequest, sortable: tuple[str, ...]
) -> tuple[list[Cdr], int]:
    """One page of the rows of ``query`` sorted by ``page.order`` (default ``start``), and how
    many rows match in all."""
    column = getattr(Cdr, check_order(page.order, sortable) or "start")
    tie = Cdr.id.desc() if page.descending else Cdr.id.asc()
    ordering = [column.desc() if page.descending else column.asc(), tie]
    counted = select(func.count()).select_from(query.order_by(None).subquery())
    async with db.session() as session:
        total = int(await session.scalar(counted) or 0)
        rows = await session.scalars(
            query.order_by(*ordering).limit(page.limit).offset(page.offset)
        )
        return list(rows), total


@dataclass(frozen=True, slots=True)
class CdrView:
    """One call detail record, with Asterisk's field names."""

    uniqueid: str
    linkedid: str
    src: str
    dst: str
    clid: str
    start: datetime
    answer: datetime | None
    end: datetime
    duration: int
    """Seconds from start to end."""
    billsec: int
    """Seconds from answer to end; 0 when not answered."""
    disposition: str
    """``ANSWERED``, ``NO ANSWER``, ``BUSY``, ``FAILED`` or ``CANCELLED``."""
    hangup_by: str | None
    """``caller``, ``callee`` or ``system``."""
    recording: str | None
    answered_by: str | None = None
    """The extension whose phone answered (a forwarded call's ``dst`` is the number
    dialled); None when no phone answered."""


def whole_seconds(delta: timedelta) -> int:
    """``delta`` rounded to the nearest second, halves up, as Asterisk rounds ``billsec``."""
    milliseconds = delta // timedelta(milliseconds=1)
    return int((milliseconds + 500) // 1000)


def _view(cdr: Cdr) -> CdrView:
    return CdrView(
        uniqueid=cdr.uniqueid,
        linkedid=cdr.linkedid,
        src=cdr.src,
        dst=cdr.dst,
        clid=cdr.clid,
        start=cdr.start,
        answer=cdr.answer,
        end=cdr.end,
        duration=cdr.duration,
        billsec=cdr.billsec,
        disposition=cdr.disposition,
        hangup_by=cdr.hangup_by,
        recording=cdr.recording,
        answered_by=cdr.answered_by,
    )


def _require_aware(value: datetime, field: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"{field} must be a timezone-aware time", field=field)


def cdr_values(
    *,
    uniqueid: str,
    linkedid: str,
    src: str,
    dst: str,
    clid: str,
    start: datetime,
    end: datetime,
    disposition: Disposition | str,
    answer: datetime | None = None,
    hangup_by: HangupBy | str | None = None,
    recording: str | None = None,
    answered_by: str | None = None,
) -> dict[str, Any]:
    """The validated column values of one call leg's record, with ``duration`` and ``billsec``.

    Raises :class:`ValidationError` for inconsistent times or unknown values.
    """
    try:
        if not isinstance(disposition, Disposition):
            disposition = Disposition(disposition)
    except ValueError:
        raise ValidationError(
            f"disposition must be one of {', '.join(Disposition)}", field="disposition"
        ) from None
    try:
        if hangup_by is not None and not isinstance(hangup_by, HangupBy):
            hangup_by = HangupBy(hangup_by)
    except ValueError:
        raise ValidationError(
            f"hangup_by must be one of {', '.join(HangupBy)}", field="hangup_by"
        ) from None
    _require_aware(start, "start")
    _require_aware(end, "end")
    if end < start:
        raise ValidationError("end must not be before start", field="end")
    if answer is not None:
        _require_aware(answer, "answer")
        if not start <= answer <= end:
            raise ValidationError("answer must be between start and end", field="answer")
    if disposition is Disposition.ANSWERED and answer is None:
        raise ValidationError("an ANSWERED record needs an answer time", field="answer")
    for name, value in (("uniqueid", uniqueid), ("linkedid", linkedid)):
        if not 1 <= len(value) <= CDR_ID_LENGTH:
            raise ValidationError(f"{name} must be 1 to {CDR_ID_LENGTH} characters", field=name)

    return {
        "uniqueid": uniqueid,
        "linkedid": linkedid,
        # Caller IDs come from the network and may be anything; as Asterisk
        # does, keep what fits rather than lose the record.
        "src": src[:CDR_PARTY_LENGTH],
        "dst": dst[:CDR_PARTY_LENGTH],
        "clid": clid[:CDR_CLID_LENGTH],
        "start": start,
        "answer": answer,
        "end": end,
        "duration": whole_seconds(end - start),
        "billsec": 0 if answer is None else whole_seconds(end - answer),
        "disposition": disposition.value,
        "hangup_by": None if hangup_by is None else hangup_by.value,
        "recording": recording,
        "answered_by": None
        if answer is None or not answered_by
        else answered_by[:CDR_PARTY_LENGTH],
    }


class CdrService:
    """Stores and lists call detail records."""

    def __init__(self, *, db: Database) -> None:
        self._db = db

    async def list(
        self, since: datetime | None = None, limit: int = DEFAULT_LIST_LIMIT
    ) -> list[CdrView]:
        """The newest ``limit`` records that started at or after ``since``, newest first."""
        if since is not None:
            _require_aware(since, "since")
        if limit < 1:
            raise ValidationError("limit must be at least 1", field="limit")
        async with self._db.session() as session:
            rows = await CdrRepository(session=session).list(since=since, limit=limit)
        return [_view(row) for row in rows]

    async def of_party(
        self, number: str, *, since: datetime, limit: int = DEFAULT_LIST_LIMIT
    ) -> builtins.list[CdrView]:
        """The newest records since ``since`` that ``number`` made or took, newest first."""
        _require_aware(since, "since")
        statement = (
            select(Cdr)
            .where(Cdr.start >= since, or_(Cdr.src == number, Cdr.dst == number))
            .order_by(Cdr.start.desc(), Cdr.id.desc())
            .limit(limit)
        )
        async with self._db.session() as session:
            rows = (await session.scalars(statement)).all()
        return [_view(row) for row in rows]

    async def search(self, where: CdrFilter, page: PageRequest) -> Page[CdrView]:
        """A page of the records ``where`` selects, by start unless ``page.order`` says."""
        query = select(Cdr).where(
            *where.conditions(), *search_conditions(page.search, CDR_SEARCHED)
        )
        rows, total = await paged(self._db, query, page, CDR_SORTABLE)
        return Page([_view(row) for row in rows], total)

    async def get(self, uniqueid: str) -> CdrView:
        """The record of the call leg ``uniqueid``; NotFoundError if there is none."""
        async with self._db.session() as session:
            row = await session.scalar(select(Cdr).where(Cdr.uniqueid == uniqueid))
        if row is None:
            raise NotFoundError(f"no call record {uniqueid}; list them with GET /api/v1/cdr")
        return _view(row)

    async def add(
        self,
        *,
        uniqueid: str,
        linkedid: str,
        src: str,
        dst: str,
        clid: str,
        start: datetime,
        end: datetime,
        disposition: Disposition | str,
        answer: datetime | None = None,
        hangup_by: HangupBy | str | None = None,
        recording: str | None = None,
        answered_by: str | None = None,
    ) -> CdrView:
        """Store the record of one call leg; ``duration`` and ``billsec`` follow from the times.

        Raises :class:`ValidationError` for inconsistent times or unknown
        values and :class:`ConflictError` when ``uniqueid`` is already stored.
        """
        cdr = Cdr(
            **cdr_values(
                uniqueid=uniqueid,
                linkedid=linkedid,
                src=src,
                dst=dst,
                clid=clid,
                start=start,
                end=end,
                disposition=disposition,
                answer=answer,
                hangup_by=hangup_by,
                recording=recording,
                answered_by=answered_by,
            )
        )
        async with self._db.session() as session:
            CdrRepository(session=session).add(cdr)
            try:
                await session.commit()
            except IntegrityError as exc:
                raise ConflictError(f"a record with uniqueid {uniqueid} already exists") from exc
        return _view(cdr)
