"""The one convention of every list endpoint: ``limit``, ``offset``, ``order``, ``direction``
and ``search`` in the query, ``{"items", "total", "limit", "offset"}`` in the answer."""

import enum
from collections.abc import Callable, Sequence
from dataclasses import asdict, is_dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Query

from ringfort.services.paging import DEFAULT_LIMIT, MAX_LIMIT, Page, PageRequest, check_order

__all__ = ["Direction", "field_of", "list_query", "page_body"]

T = TypeVar("T")

MAX_OFFSET = 1_000_000_000
"""Far beyond any list; it keeps the number inside what every database takes."""
MAX_SEARCH = 200


class Direction(enum.StrEnum):
    """The direction of ``order``."""

    ASC = "asc"
    DESC = "desc"


def list_query(
    sortable: Sequence[str],
    *,
    default: str | None = None,
    text: Sequence[str] = (),
    newest_first: bool = False,
) -> Callable[..., PageRequest]:
    """A FastAPI dependency reading the list parameters of a resource.

    ``sortable`` are the fields ``order`` may name (anything else is a 400
    naming them); ``default`` is the order when none is asked for; ``text``
    names the fields ``search`` looks in, for the documentation; ``newest_first``
    makes ``desc`` the default direction (call records, recordings).
    """
    first = Direction.DESC if newest_first else Direction.ASC
    fields = ", ".join(sortable)
    searched = ", ".join(text) if text else "the text fields"

    def dependency(
        limit: Annotated[
            int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (1 to {MAX_LIMIT}).")
        ] = DEFAULT_LIMIT,
        offset: Annotated[
            int, Query(ge=0, le=MAX_OFFSET, description="Items skipped before the page.")
        ] = 0,
        order: Annotated[
            str | None,
            Query(
                max_length=64,
                description=f"The field to sort by: one of {fields}."
                + (f" Default: {default}." if default else ""),
            ),
        ] = None,
        direction: Annotated[
            Direction, Query(description=f"asc or desc. Default: {first}.")
        ] = first,
        search: Annotated[
            str | None,
            Query(
                max_length=MAX_SEARCH,
                description=f"Only items whose {searched} contain this text (any case).",
            ),
        ] = None,
    ) -> PageRequest:
        return PageRequest(
            limit=limit,
            offset=offset,
            order=check_order(order, sortable) or default,
            descending=direction is Direction.DESC,
            search=search or None,
        )

    return dependency


def field_of(item: object, name: str) -> Any:
    """Field ``name`` of a dataclass or a mapping (what :func:`page_of` reads)."""
    if isinstance(item, dict):
        return item.get(name)
    return getattr(item, name, None)


def page_body(
    page: Page[T], request: PageRequest, render: Callable[[T], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The JSON answer of a list endpoint."""

    def default(item: T) -> dict[str, Any]:
        if is_dataclass(item) and not isinstance(item, type):
            return asdict(item)
        if isinstance(item, dict):
            return item
        raise TypeError(f"cannot serialise {type(item).__name__}")

    shown = render or default
    return {
        "items": [shown(item) for item in page.items],
        "total": page.total,
        "limit": request.limit,
        "offset": request.offset,
    }
