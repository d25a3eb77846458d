"""What a node is doing now, read from the database: active registrations and blocks.

A running server persists both, so this works from another process (the
``ringfort status`` command) as well as inside the server.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from ringfort.db.repositories import BlockedAddressRepository, RegistrationRepository
from ringfort.services.database import Database


@dataclass(frozen=True, slots=True)
class RegistrationView:
    """One active binding of a phone to an extension."""

    number: str
    contact: str
    """The Contact URI the phone registered."""
    source: str
    """``host:port`` the REGISTER came from (``[v6]:port`` for IPv6)."""
    transport: str
    expires_in: int
    """Whole seconds until the binding lapses, rounded up so an active binding never shows 0."""
    user_agent: str | None
    behind_nat: bool


@dataclass(frozen=True, slots=True)
class BlockView:
    """One address currently refused for failing authentication."""

    address: str
    blocked_until: str
    """ISO 8601 UTC time the block ends."""
    seconds_left: int
    failures: int
    reason: str


def format_source(host: str, port: int) -> str:
    """``host:port``, bracketing an IPv6 host as SIP and URLs do (RFC 3261 §25.1)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _seconds_left(until: float, now: float) -> int:
    return max(0, math.ceil(until - now))


class StatusService:
    """Reads the live state a server stores, for status displays."""

    def __init__(self, *, db: Database) -> None:
        self._db = db

    async def registrations(self, now: float) -> list[RegistrationView]:
        """Bindings not lapsed at ``now`` (Unix seconds), by number then contact."""
        async with self._db.session() as session:
            rows = await RegistrationRepository(session=session).list_active(now)
        return [
            RegistrationView(
                number=row.number,
                contact=row.contact,
                source=format_source(row.source_host, row.source_port),
                transport=row.transport,
                expires_in=_seconds_left(row.expires_at, now),
                user_agent=row.user_agent,
                behind_nat=row.behind_nat,
            )
            for row in rows
        ]

    async def blocked(self, now: float) -> list[BlockView]:
        """Blocks in force at ``now`` (Unix seconds), by address."""
        async with self._db.session() as session:
            rows = await BlockedAddressRepository(session=session).list_active(now)
        return [
            BlockView(
                address=row.address,
                blocked_until=datetime.fromtimestamp(row.blocked_until, UTC).isoformat(
                    timespec="seconds"
                ),
                seconds_left=_seconds_left(row.blocked_until, now),
                failures=row.failures,
                reason=row.reason,
            )
            for row in rows
        ]
