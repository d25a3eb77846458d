"""Blocking of addresses that fail authentication too often."""

from __future__ import annotations

import heapq
import ipaddress
from collections import OrderedDict
from collections.abc import Iterable
from typing import TypeAlias

from ringfort.errors import ValidationError
from ringfort.pbx.ports import BlockedAddress

__all__ = ["AuthGuard"]

_Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address


class AuthGuard:
    """Counts authentication failures per source address and blocks offenders.

    An address that fails ``limit`` times within any ``window`` seconds is
    blocked for ``block_seconds``. Addresses in ``trusted`` (IPs or CIDR
    networks) are never blocked. Failure histories are kept for at most
    ``max_tracked`` addresses: a scan from more addresses than that forgets the
    quietest ones first, so its memory stays bounded (at the price of letting a
    very wide, very slow scan go unblocked). Blocks themselves are kept until
    they end; each one needs ``limit`` failures to create.

    Pure logic: the caller passes ``now`` (Unix seconds, the same clock as
    :attr:`BlockedAddress.blocked_until`) and persists what it returns.
    """

    def __init__(
        self,
        *,
        limit: int,
        window: float,
        block_seconds: float,
        trusted: Iterable[str] = (),
        max_tracked: int = 100_000,
    ) -> None:
        if limit < 1:
            raise ValidationError("limit must be at least 1", field="limit")
        if window <= 0:
            raise ValidationError("window must be positive", field="window")
        if block_seconds <= 0:
            raise ValidationError("block_seconds must be positive", field="block_seconds")
        if max_tracked < 1:
            raise ValidationError("max_tracked must be at least 1", field="max_tracked")
        self.limit = limit
        self.window = window
        self.block_seconds = block_seconds
        self._max_tracked = max_tracked
        self._trusted: list[_Network] = []
        for entry in trusted:
            try:
                self._trusted.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ValidationError(
                    f"{entry!r} is not an IP address or network", field="trusted"
                ) from None
        self._blocks: dict[str, BlockedAddress] = {}
        # (blocked_until, address): lets expire() find ended blocks without a scan.
        # An entry whose block was since replaced or lifted is skipped when popped.
        self._ends: list[tuple[float, str]] = []
        # address -> times of its recent failures, oldest first, at most `limit`.
        # Ordered by latest failure, so the stalest histories are at the front.
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def is_trusted(self, address: str) -> bool:
        """Whether ``address`` is in a trusted network."""
        if not self._trusted:
            return False
        parsed = _parse_address(address)
        return parsed is not None and any(parsed in network for network in self._trusted)

    def is_blocked(self, address: str, now: float) -> bool:
        """Whether messages from ``address`` are to be dropped at ``now``."""
        block = self._blocks.get(address)
        return block is not None and now < block.blocked_until

    def record_failure(self, address: str, now: float, reason: str) -> BlockedAddress | None:
        """Count a failed authentication from ``address``.

        Returns the new block when this failure is the ``limit``-th within
        ``window`` seconds, for the caller to store; otherwise None.
        """
        if self.is_blocked(address, now) or self.is_trusted(address):
            return None
        self._forget_stale(now)
        history = self._failures.pop(address, None)
        if history is None:
            history = []
        cutoff = now - self.window
        history = [when for when in history if when > cutoff]
        history.append(now)
        if len(history) >= self.limit:
            block = BlockedAddress(
                address=address,
                blocked_until=now + self.block_seconds,
                failures=len(history),
                reason=reason,
            )
            self._add_block(block)
            return block
        self._failures[address] = history
        if len(self._failures) > self._max_tracked:
            self._failures.popitem(last=False)
        return None

    def record_success(self, address: str) -> None:
        """Forget the failures of ``address``: its user got the password right."""
        self._failures.pop(address, None)

    def blocked(self, now: float) -> list[BlockedAddress]:
        """The blocks in force at ``now``, the soonest to end first."""
        active = [block for block in self._blocks.values() if now < block.blocked_until]
        active.sort(key=lambda block: (block.blocked_until, block.address))
        return active

    def unblock(self, address: str) -> bool:
        """Lift the block on ``address`` and forget its failures; False if none."""
        self._failures.pop(address, None)
        return self._blocks.pop(address, None) is not None

    def restore(self, blocks: Iterable[BlockedAddress]) -> list[str]:
        """Take back blocks kept across a restart.

        Blocks of trusted addresses are not restored; their addresses are
        returned so the caller can delete them from the store. Blocks that have
        already ended are restored all the same and reported by :meth:`expire`.
        """
        refused: list[str] = []
        for block in blocks:
            if self.is_trusted(block.address):
                refused.append(block.address)
                continue
            current = self._blocks.get(block.address)
            if current is None or current.blocked_until < block.blocked_until:
                self._add_block(block)
        return refused

    def expire(self, now: float) -> list[str]:
        """Remove blocks that ended by ``now``; returns their addresses.

        Also drops failure histories that fell out of the window. Call it
        periodically; the caller deletes the returned addresses from the store.
        """
        self._forget_stale(now)
        ended: list[str] = []
        while self._ends and self._ends[0][0] <= now:
            until, address = heapq.heappop(self._ends)
            block = self._blocks.get(address)
            if block is not None and block.blocked_until == until:
                del self._blocks[address]
                ended.append(address)
        return ended

    def _add_block(self, block: BlockedAddress) -> None:
        self._blocks[block.address] = block
        self._failures.pop(block.address, None)
        heapq.heappush(self._ends, (block.blocked_until, block.address))

    def _forget_stale(self, now: float) -> None:
        """Drop histories whose latest failure is older than the window.

        The dict is ordered by latest failure, so this stops at the first
        history still in the window: amortised O(1) per failure.
        """
        cutoff = now - self.window
        while self._failures:
            address, history = next(iter(self._failures.items()))
            if history[-1] > cutoff:
                break
            del self._failures[address]


def _parse_address(address: str) -> _Address | None:
    """``address`` as an IP address (IPv4-mapped IPv6 as IPv4), or None."""
    try:
        parsed = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed
