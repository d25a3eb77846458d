"""Random identifiers for the protocols: tags, branches, Call-IDs, nonces, SDP session ids.

They come from the operating system's CSPRNG, as `secrets` draws them, but a batch
at a time: a call needs about ten, and a system call for each showed in the profile
of the call path. A child process made by ``fork`` starts with an empty batch, so it
never hands out what its parent has handed out.
"""

from __future__ import annotations

import os
import threading

__all__ = ["randbelow", "token_bytes", "token_hex"]

_BATCH = 4096


class _Batch:
    """Bytes read from ``os.urandom`` and not yet handed out."""

    __slots__ = ("_data", "_lock", "_offset")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data = b""
        self._offset = 0

    def take(self, count: int) -> bytes:
        if count > _BATCH:
            return os.urandom(count)
        with self._lock:
            offset = self._offset
            end = offset + count
            if end > len(self._data):
                self._data = os.urandom(_BATCH)
                offset, end = 0, count
            self._offset = end
            return self._data[offset:end]

    def forget(self) -> None:
        # Called in a forked child, where no other thread runs: the lock may have been
        # held by a thread of the parent, so the child gets a new one.
        self._lock = threading.Lock()
        self._data = b""
        self._offset = 0


_batch = _Batch()
os.register_at_fork(after_in_child=_batch.forget)


def token_bytes(count: int) -> bytes:
    """``count`` random bytes (as `secrets.token_bytes`)."""
    return _batch.take(count)


def token_hex(count: int) -> str:
    """``count`` random bytes as ``2 * count`` hex digits (as `secrets.token_hex`)."""
    return _batch.take(count).hex()


def randbelow(bound: int) -> int:
    """A random int in ``[0, bound)``, uniform (as `secrets.randbelow`)."""
    if bound <= 0:
        raise ValueError("randbelow needs a positive bound")
    bits = bound.bit_length()
    size = (bits + 7) // 8
    excess = size * 8 - bits
    while True:
        # Drop the surplus bits, then reject what falls past the bound: no modulo bias.
        value = int.from_bytes(_batch.take(size)) >> excess
        if value < bound:
            return value
