"""Pages of a list: how many, from where, in which order, matching what text.

Interfaces ask for a :class:`PageRequest`; a service answers a :class:`Page`.
Small configuration lists (extensions, queues, menus) are paged in memory with
:func:`page_of`; the large ones (call records, recordings) in SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ringfort.errors import ValidationError

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Page", "PageRequest", "check_order", "page_of"]

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
"""The most items one page holds: more is a bulk export, not a page."""


@dataclass(frozen=True, slots=True)
class PageRequest:
    """One page: ``limit`` items after the first ``offset``, sorted by ``order``.

    ``search`` keeps the items one of whose text fields contains it, ignoring case.
    """

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    order: str | None = None
    """A field name; None: the list's natural order."""
    descending: bool = False
    search: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValidationError(f"limit must be 1 to {MAX_LIMIT}", field="limit")
        if self.offset < 0:
            raise ValidationError("offset cannot be negative", field="offset")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """The items of one page and how many match in all."""

    items: list[T]
    total: int


def check_order(order: str | None, sortable: Sequence[str]) -> str | None:
    """``order`` if it is one of ``sortable`` (or None); ValidationError naming them otherwise."""
    if order is not None and order not in sortable:
        raise ValidationError(
            f"cannot sort by {order!r}; sort by one of: {', '.join(sortable)}", field="order"
        )
    return order


def _sort_key(value: Any) -> tuple[int, Any]:
    # None sorts last in ascending order, whatever the field's type.
    return (1, "") if value is None else (0, value)


def page_of(
    items: Iterable[T],
    request: PageRequest,
    *,
    field: Callable[[T, str], Any],
    sortable: Sequence[str],
    text_fields: Sequence[str],
) -> Page[T]:
    """The page of ``items`` (in their natural order unless ``request.order`` says otherwise).

    ``field(item, name)`` reads one field of an item; ``text_fields`` are those
    searched; ``sortable`` those ``order`` may name.
    """
    order = check_order(request.order, sortable)
    chosen = list(items)
    if request.search:
        needle = request.search.casefold()
        chosen = [
            item
            for item in chosen
            if any(needle in str(field(item, name) or "").casefold() for name in text_fields)
        ]
    if order is not None:
        chosen.sort(key=lambda item: _sort_key(field(item, order)), reverse=request.descending)
    elif request.descending:
        chosen.reverse()
    return Page(chosen[request.offset : request.offset + request.limit], len(chosen))
