"""The database behind the call core's storage Protocols (``ringfort.pbx.ports``).

These classes satisfy the Protocols structurally; ``runtime`` hands them to
the registrar.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from ringfort.db.models import BLOCK_REASON_LENGTH, Extension, Registration
from ringfort.db.models import BlockedAddress as BlockedAddressRow
from ringfort.db.repositories import (
    BlockedAddressRepository,
    ExtensionRepository,
    RegistrationRepository,
    RegistrationValues,
)
from ringfort.pbx.forwarding import NO_FORWARDING, Forwarding, ForwardingChange
from ringfort.pbx.ports import (
    Binding,
    BindingStore,
    BlockedAddress,
    BlockStore,
    Credentials,
    ExtensionDirectory,
)
from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService, ExtensionView, forwarding_of

log = logging.getLogger(__name__)

CREDENTIALS_TTL = 2.0
"""Seconds a looked-up password (or its absence) is trusted before asking the database again."""
SNAPSHOT_REFRESH_INTERVAL = 1.0
"""Seconds between checks whether the extensions changed (after :meth:`preload`)."""
CREDENTIALS_CACHE_SIZE = 10_000
"""Entries kept at most; a scanner trying random numbers must not grow the cache without end."""


class SqlExtensionDirectory:
    """Credentials of extensions, with a short cache in front of the database.

    A registration storm (every phone re-registering after a restart, or a
    scanner guessing numbers) would otherwise be one query per REGISTER.
    Unknown numbers are cached too, and concurrent lookups of one number
    share a single query. A changed password takes effect within ``ttl``
    seconds, or at once after :meth:`invalidate`.

    A server calls :meth:`preload` at start: then every extension's password
    is held in memory and a cheap change stamp is checked at most once per
    ``refresh_interval``, reloading the lot when another process (the CLI,
    the API) changed an extension. Numbers not in that snapshot (added since,
    or guessed by a scanner) go through the per-number cache.
    """

    def __init__(
        self,
        *,
        db: Database,
        ttl: float = CREDENTIALS_TTL,
        max_entries: int = CREDENTIALS_CACHE_SIZE,
        monotonic: Callable[[], float] = time.monotonic,
        refresh_interval: float = SNAPSHOT_REFRESH_INTERVAL,
    ) -> None:
        self._db = db
        self._ttl = ttl
        self._refresh_interval = refresh_interval
        self._snapshot: dict[str, Credentials] | None = None
        self._stamp: tuple[int, datetime | None] | None = None
        self._checked_at = 0.0
        self._refresh: asyncio.Task[None] | None = None
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, Credentials | None]] = {}
        self._pending: dict[str, asyncio.Task[Credentials | None]] = {}
        # Bumped by invalidate(), so a query that started before a password
        # change cannot put the old password back into the cache.
        self._generation = 0

    async def preload(self) -> int:
        """Hold every extension's credentials in memory; returns how many."""
        async with self._db.session() as session:
            repository = ExtensionRepository(session=session)
            return await self._load_snapshot(repository, await repository.change_stamp())

    async def _load_snapshot(
        self, repository: ExtensionRepository, stamp: tuple[int, datetime | None]
    ) -> int:
        rows = await repository.call_core_view()
        self._snapshot = {number: _credentials(row) for number, row in rows.items()}
        self._stamp = stamp
        self._checked_at = self._monotonic()
        return len(rows)

    async def close(self) -> None:
        """Stop a refresh in flight (at shutdown)."""
        if self._refresh is not None:
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refresh
            self._refresh = None

    async def _refresh_if_changed(self) -> None:
        async with self._db.session() as session:
            repository = ExtensionRepository(session=session)
            stamp = await repository.change_stamp()
            if stamp != self._stamp:
                await self._load_snapshot(repository, stamp)
                self._cache.clear()

    def _refresh_done(self, task: asyncio.Task[None]) -> None:
        self._refresh = None
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("could not refresh extensions from the database: %s", error)

    async def credentials(self, number: str) -> Credentials | None:
        """The credentials of ``number``, or None if there is no such extension."""
        now = self._monotonic()
        if self._snapshot is not None:
            if now - self._checked_at >= self._refresh_interval and self._refresh is None:
                # Answer from the snapshot now; a change lands within a second.
                self._checked_at = now
                self._refresh = asyncio.create_task(self._refresh_if_changed())
                self._refresh.add_done_callback(self._refresh_done)
            known = self._snapshot.get(number)
            if known is not None:
                return known
        cached = self._cache.get(number)
        if cached is not None and cached[0] > now:
            return cached[1]
        task = self._pending.get(number)
        if task is None:
            task = asyncio.create_task(self._load(number, self._generation))
            self._pending[number] = task
            task.add_done_callback(self._finished)
        # Shielded: one caller giving up (its transaction timed out) must not
        # cancel the query the other callers are waiting for.
        return await asyncio.shield(task)

    async def _load(self, number: str, generation: int) -> Credentials | None:
        async with self._db.session() as session:
            extension = await ExtensionRepository(session=session).get(number)
        found = None if extension is None else _credentials(extension)
        if generation == self._generation:
            self._remember(number, found)
        return found

    def _finished(self, task: asyncio.Task[Credentials | None]) -> None:
        for number, pending in list(self._pending.items()):
            if pending is task:
                del self._pending[number]
        # Every waiter may have been cancelled; fetching the exception here
        # keeps asyncio from reporting it as never retrieved.
        if not task.cancelled():
            task.exception()

    def _remember(self, number: str, found: Credentials | None) -> None:
        now = self._monotonic()
        if len(self._cache) >= self._max_entries:
            self._cache = {key: entry for key, entry in self._cache.items() if entry[0] > now}
            if len(self._cache) >= self._max_entries:
                self._cache.clear()
        self._cache[number] = (now + self._ttl, found)

    def invalidate(self, number: str | None = None) -> None:
        """Forget what is cached about ``number``, or about every number when None."""
        self._generation += 1
        # The next lookup checks the snapshot's stamp again.
        self._checked_at = float("-inf")
        if number is None:
            self._cache.clear()
            self._pending.clear()
            if self._snapshot is not None:
                self._snapshot.clear()
        else:
            self._cache.pop(number, None)
            self._pending.pop(number, None)
            if self._snapshot is not None:
                self._snapshot.pop(number, None)


class DirectoryForwarding:
    """Extensions' forwarding for calls: read from the call core's directory, set through
    the extensions service.

    The directory's snapshot already holds every extension's forwarding, so a call that
    a menu, a time condition or a transfer puts through to an extension costs no query.
    ``extensions`` must invalidate ``directory`` on change (its ``on_change``), so a
    forward set from a phone holds for the next call.
    """

    def __init__(self, directory: SqlExtensionDirectory, extensions: ExtensionService) -> None:
        self._directory = directory
        self._extensions = extensions

    async def forwarding(self, number: str) -> Forwarding:
        """Extension ``number``'s forwarding; NO_FORWARDING when it is not an extension."""
        credentials = await self._directory.credentials(number)
        return credentials.forwarding if credentials is not None else NO_FORWARDING

    async def set_forwarding(self, number: str, change: ForwardingChange) -> ExtensionView:
        """Change it (see :meth:`ExtensionService.set_forwarding`)."""
        return await self._extensions.set_forwarding(number, change)


def _credentials(extension: Extension) -> Credentials:
    """What the call core knows of an extension."""
    return Credentials(
        extension.number,
        extension.sip_password,
        extension.name,
        extension.voicemail_enabled,
        extension.ring_seconds,
        forwarding_of(extension),
    )


def _binding(row: Registration) -> Binding:
    return Binding(
        number=row.number,
        contact=row.contact,
        expires_at=row.expires_at,
        call_id=row.call_id,
        cseq=row.cseq,
        q=row.q,
        transport=row.transport,
        source_host=row.source_host,
        source_port=row.source_port,
        behind_nat=row.behind_nat,
        user_agent=row.user_agent,
    )


def _registration_values(binding: Binding) -> RegistrationValues:
    return RegistrationValues(
        number=binding.number,
        contact=binding.contact,
        expires_at=binding.expires_at,
        call_id=binding.call_id,
        cseq=binding.cseq,
        q=binding.q,
        transport=binding.transport,
        source_host=binding.source_host,
        source_port=binding.source_port,
        behind_nat=binding.behind_nat,
        user_agent=binding.user_agent,
    )


class SqlBindingStore:
    """Registrations kept in the database, so a restart and ``ringfort status`` see them."""

    def __init__(self, *, db: Database) -> None:
        self._db = db

    async def load_bindings(self) -> list[Binding]:
        """Every stored binding, lapsed ones included."""
        async with self._db.session() as session:
            rows = await RegistrationRepository(session=session).list()
        return [_binding(row) for row in rows]

    async def save_bindings(self, upserts: list[Binding], deletes: list[tuple[str, str]]) -> None:
        """Insert or replace ``upserts`` and delete ``(number, contact)`` pairs in one commit."""
        if not upserts and not deletes:
            return
        async with self._db.session() as session:
            registrations = RegistrationRepository(session=session)
            # Deletes first: a contact removed and re-added in one batch must end up stored.
            await registrations.delete(deletes)
            await registrations.upsert(_registration_values(binding) for binding in upserts)
            await session.commit()


class SqlBlockStore:
    """Blocked addresses kept in the database."""

    def __init__(self, *, db: Database) -> None:
        self._db = db

    async def save_block(self, block: BlockedAddress) -> None:
        """Record a block, or extend the one stored for the same address."""
        async with self._db.session() as session:
            await BlockedAddressRepository(session=session).upsert(
                {
                    "address": block.address,
                    "blocked_until": block.blocked_until,
                    "failures": block.failures,
                    # Cut rather than refused: losing the block would be worse.
                    "reason": block.reason[:BLOCK_REASON_LENGTH],
                }
            )
            await session.commit()

    async def remove_block(self, address: str) -> None:
        """Forget the block of ``address``."""
        async with self._db.session() as session:
            await BlockedAddressRepository(session=session).delete(address)
            await session.commit()

    async def load_blocks(self) -> list[BlockedAddress]:
        """Every stored block, ended ones included."""
        async with self._db.session() as session:
            rows: list[BlockedAddressRow] = list(
                await BlockedAddressRepository(session=session).list()
            )
        return [
            BlockedAddress(
                address=row.address,
                blocked_until=row.blocked_until,
                failures=row.failures,
                reason=row.reason,
            )
            for row in rows
        ]


if TYPE_CHECKING:
    # Makes mypy prove the structural match with the call core's Protocols.
    def _satisfies_ports(db: Database) -> tuple[ExtensionDirectory, BindingStore, BlockStore]:
        return SqlExtensionDirectory(db=db), SqlBindingStore(db=db), SqlBlockStore(db=db)
