"""Recording rules: adding, listing and deleting them, and answering which calls to record."""

from __future__ import annotations

import asyncio
import builtins
import enum
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ringfort.db.models import RecordingRule
from ringfort.errors import ConflictError, NotFoundError, ValidationError
from ringfort.services.database import Database

__all__ = [
    "RELOAD_INTERVAL",
    "TARGET_PATTERN",
    "DuplicateRuleError",
    "RecordingRuleRecord",
    "RecordingRuleService",
    "RuleDirection",
    "RuleKind",
    "RuleSet",
]

log = logging.getLogger(__name__)

TARGET_PATTERN = re.compile(r"[0-9*#]{1,20}")
"""What a rule names: 1 to 20 of 0-9, ``*`` and ``#``."""
RELOAD_INTERVAL = 2.0
"""Seconds :meth:`RecordingRuleService.wanted` trusts its copy of the rules before rereading."""


class RuleKind(enum.StrEnum):
    """What a recording rule's target is."""

    EXTENSION = "extension"
    """An extension: its outgoing calls, incoming calls or both (``direction``)."""
    NUMBER = "number"
    """A dialled number, exactly."""
    PREFIX = "prefix"
    """The start of dialled numbers (``00`` for international calls)."""


class RuleDirection(enum.StrEnum):
    """Which of an extension's calls a rule records."""

    IN = "in"
    """Calls to the extension."""
    OUT = "out"
    """Calls the extension makes."""
    BOTH = "both"
    """Either; the only direction of number and prefix rules."""


class DuplicateRuleError(ValidationError, ConflictError):
    """The same rule exists already: a bad value to the user, a clash to an HTTP client."""


@dataclass(frozen=True, slots=True)
class RecordingRuleRecord:
    """One stored recording rule."""

    id: int
    kind: str
    """``extension``, ``number`` or ``prefix``."""
    target: str
    """The extension, number or prefix."""
    direction: str
    """``in``, ``out`` or ``both`` (always ``both`` unless ``kind`` is ``extension``)."""
    created_at: datetime

    def describe(self) -> str:
        """The rule in words, e.g. ``calls to and from extension 101``."""
        if self.kind == RuleKind.NUMBER:
            return f"calls to {self.target}"
        if self.kind == RuleKind.PREFIX:
            return f"calls to numbers starting with {self.target}"
        if self.direction == RuleDirection.IN:
            return f"calls to extension {self.target}"
        if self.direction == RuleDirection.OUT:
            return f"calls from extension {self.target}"
        return f"calls to and from extension {self.target}"


class RuleSet:
    """Every rule, arranged so that asking about one call is a few set lookups."""

    def __init__(self, rules: Iterable[RecordingRuleRecord] = ()) -> None:
        self._callers: set[str] = set()
        self._called: set[str] = set()
        self._prefixes: list[str] = []
        for rule in rules:
            if rule.kind == RuleKind.PREFIX:
                self._prefixes.append(rule.target)
                continue
            if rule.kind == RuleKind.NUMBER or rule.direction != RuleDirection.OUT:
                self._called.add(rule.target)
            if rule.kind == RuleKind.EXTENSION and rule.direction != RuleDirection.IN:
                self._callers.add(rule.target)

    def matches(self, src: str, dst: str) -> bool:
        """Whether any rule records a call from ``src`` to ``dst``."""
        return (
            src in self._callers
            or dst in self._called
            or any(dst.startswith(prefix) for prefix in self._prefixes)
        )


def _record(row: RecordingRule) -> RecordingRuleRecord:
    return RecordingRuleRecord(
        id=row.id,
        kind=row.kind,
        target=row.target,
        direction=row.direction,
        created_at=row.created_at,
    )


def _validate(kind: str, target: str, direction: str) -> tuple[RuleKind, str, RuleDirection]:
    try:
        rule_kind = RuleKind(kind)
    except ValueError:
        raise ValidationError(
            f"kind must be one of {', '.join(RuleKind)}, got {kind!r}", field="kind"
        ) from None
    try:
        rule_direction = RuleDirection(direction)
    except ValueError:
        raise ValidationError(
            f"direction must be one of {', '.join(RuleDirection)}, got {direction!r}",
            field="direction",
        ) from None
    if rule_kind is not RuleKind.EXTENSION and rule_direction is not RuleDirection.BOTH:
        raise ValidationError(
            f"direction applies to extension rules only; a {rule_kind} rule records every call"
            f" to it",
            field="direction",
        )
    if not TARGET_PATTERN.fullmatch(target):
        raise ValidationError(
            f"{rule_kind} must be 1 to 20 of 0-9, * and #, got {target!r}", field="target"
        )
    return rule_kind, target, rule_direction


class RecordingRuleService:
    """The one place recording rules change, and the call core's answer to "record this call?".

    :meth:`wanted` runs on every call's path, so it reads the whole (small) rule
    list at most every `RELOAD_INTERVAL` seconds of ``monotonic`` time and
    answers from memory in between: a change made by ``ringfort recording
    rule`` in another process takes effect within that interval. A change made
    through this object takes effect at once.
    """

    def __init__(self, *, db: Database, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._monotonic = monotonic
        self._rules: RuleSet | None = None
        self._loaded_at: float | None = None
        """When the rules were last read (or tried); None: read them before the next answer."""
        self._reload_lock = asyncio.Lock()
        self._unreachable = False

    async def add(
        self, kind: str, target: str, direction: str = RuleDirection.BOTH
    ) -> RecordingRuleRecord:
        """Add a rule; returns it as stored.

        ValidationError for an unknown kind or direction, a direction on a
        number or prefix rule, or a malformed target; DuplicateRuleError (a
        ValidationError) when the same rule exists already.
        """
        rule_kind, target, rule_direction = _validate(kind, target.strip(), direction)
        row = RecordingRule(kind=rule_kind.value, target=target, direction=rule_direction.value)
        async with self._db.session() as session:
            existing = await session.scalar(
                select(RecordingRule).where(
                    RecordingRule.kind == row.kind,
                    RecordingRule.target == row.target,
                    RecordingRule.direction == row.direction,
                )
            )
            if existing is not None:
                earlier = _record(existing)
                raise DuplicateRuleError(f"rule {earlier.id} already records {earlier.describe()}")
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                # Added by someone else since the check above.
                raise DuplicateRuleError(
                    "that rule was added meanwhile; see ringfort recording rule list"
                ) from None
            record = _record(row)
        self._forget()
        return record

    async def list(self) -> builtins.list[RecordingRuleRecord]:
        """Every rule, oldest first."""
        async with self._db.session() as session:
            rows = await session.scalars(select(RecordingRule).order_by(RecordingRule.id))
            return [_record(row) for row in rows]

    async def delete(self, rule_id: int) -> RecordingRuleRecord:
        """Delete the rule with id ``rule_id`` and return it; NotFoundError if there is none."""
        async with self._db.session() as session:
            row = await session.get(RecordingRule, rule_id)
            if row is None:
                raise NotFoundError(
                    f"recording rule {rule_id} does not exist; see ringfort recording rule list"
                )
            record = _record(row)
            await session.delete(row)
            await session.commit()
        self._forget()
        return record

    async def wanted(self, src: str, dst: str) -> bool:
        """Whether a rule records a call from extension ``src`` to the number ``dst``.

        While the database cannot be read the last rules read are used (none
        before the first read), and the trouble is logged once, not per call.
        """
        return (await self._current()).matches(src, dst)

    def _forget(self) -> None:
        self._loaded_at = None

    def _fresh(self) -> bool:
        return self._loaded_at is not None and self._monotonic() - self._loaded_at < RELOAD_INTERVAL

    async def _current(self) -> RuleSet:
        rules = self._rules
        if rules is not None and (self._fresh() or self._reload_lock.locked()):
            # Fresh enough, or another call is rereading them and this one need not wait.
            return rules
        async with self._reload_lock:
            if not self._fresh():
                await self._reload()
            return self._rules or RuleSet()

    async def _reload(self) -> None:
        try:
            records = await self.list()
        except (SQLAlchemyError, OSError) as exc:
            if not self._unreachable:
                self._unreachable = True
                log.warning(
                    "recording rules cannot be read (%s); using the last ones read until the"
                    " database answers again",
                    exc,
                )
            if self._rules is None:
                self._rules = RuleSet()
        else:
            if self._unreachable:
                self._unreachable = False
                log.info("recording rules can be read again")
            self._rules = RuleSet(records)
        # Stamped on failure too: a database that is down is asked again in
        # RELOAD_INTERVAL, not by every call in the meantime.
        self._loaded_at = self._monotonic()
