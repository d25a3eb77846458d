"""An Enum hashed as fast as a plain object, for enums used as keys on hot paths."""

from __future__ import annotations

from enum import Enum


class FastEnum(Enum):
    """An Enum whose members hash by identity.

    Members are singletons and compare by identity, so an identity hash agrees with
    equality. Enum's own ``__hash__`` is Python code hashing the member's name, and
    the transaction layer and the call state machine look enum keys up in dicts
    dozens of times per call.
    """

    __hash__ = object.__hash__
