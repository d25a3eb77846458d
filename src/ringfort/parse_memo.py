"""Values parsed lately, kept by the text they were parsed from."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

_K = TypeVar("_K", bound=Hashable)
_T = TypeVar("_T")


class ParseMemo(Generic[_K, _T]):
    """A parser that remembers what it parsed lately, by the text it was given.

    For protocol text that repeats: the messages of a SIP dialog repeat its From, To,
    Contact and CSeq lines, and phones repeat the same SDP attribute lines in every offer.
    The values must be immutable, or never changed in place, since every caller of the
    same text gets the same object. Two generations bound the memory: when the newer is
    full it becomes the older, and the older is dropped. Text that does not parse is
    not kept: it raises every time. A parser that returns None is asked again each time.
    """

    __slots__ = ("_new", "_old", "_parse", "_size")

    def __init__(self, parse: Callable[[_K], _T], size: int = 1024) -> None:
        self._parse: Callable[[_K], _T] = parse
        self._size = size
        self._new: dict[_K, _T] = {}
        self._old: dict[_K, _T] = {}

    def __call__(self, text: _K) -> _T:
        """What ``parse(text)`` gives, parsed again only when not seen lately."""
        value = self._new.get(text)
        if value is None:
            value = self._old.get(text)
            if value is None:
                value = self._parse(text)
            if len(self._new) >= self._size:
                self._old, self._new = self._new, {}
            self._new[text] = value
        return value
