"""Write-behind of registrations and blocks to the store.

A REGISTER is answered from memory; the database write follows within a
fraction of a second, in batches, so a thousand registrations a second cost a
few commits rather than a thousand. Losing the last half-second of bindings in
a crash costs nothing: phones re-register.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ringfort.pbx.ports import Binding, BindingStore, BlockedAddress, BlockStore
from ringfort.pbx.registrar import BindingChange

log = logging.getLogger(__name__)


class StoreWriter:
    """Coalesces binding and block changes and writes them in batches."""

    def __init__(
        self,
        *,
        bindings: BindingStore,
        blocks: BlockStore,
        interval: float = 0.2,
        max_batch: int = 2000,
    ) -> None:
        self._binding_store = bindings
        self._block_store = blocks
        self._interval = interval
        self._max_batch = max_batch
        # Last write wins per binding: None means "delete".
        self._pending: dict[tuple[str, str], Binding | None] = {}
        self._blocks: dict[str, BlockedAddress | None] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def binding_change(self, change: BindingChange) -> None:
        """Queue what one REGISTER changed."""
        for binding in change.upserts:
            self._pending[(binding.number, binding.contact)] = binding
        for key in change.deletes:
            self._pending[key] = None
        if len(self._pending) >= self._max_batch:
            self._wake.set()

    def binding_change_deletes(self, deletes: list[tuple[str, str]]) -> None:
        """Queue the removal of lapsed bindings."""
        self.binding_change(BindingChange([], deletes))

    def block(self, block: BlockedAddress) -> None:
        """Queue a new block."""
        self._blocks[block.address] = block
        self._wake.set()

    def unblock(self, address: str) -> None:
        """Queue the end of a block."""
        self._blocks[address] = None
        self._wake.set()

    def start(self) -> None:
        """Start the background writer."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="store-writer")

    async def stop(self) -> None:
        """Write what is pending and stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        """Write everything pending now."""
        if self._pending:
            pending, self._pending = self._pending, {}
            upserts = [b for b in pending.values() if b is not None]
            deletes = [key for key, b in pending.items() if b is None]
            try:
                await self._binding_store.save_bindings(upserts, deletes)
            except Exception:
                log.exception("could not store %d binding changes; retrying", len(pending))
                # Keep them unless newer changes superseded them meanwhile.
                for key, value in pending.items():
                    self._pending.setdefault(key, value)
                raise
        if self._blocks:
            blocks, self._blocks = self._blocks, {}
            for address, block in blocks.items():
                if block is None:
                    await self._block_store.remove_block(address)
                else:
                    await self._block_store.save_block(block)

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                await asyncio.sleep(1.0)  # the store is down; do not spin
