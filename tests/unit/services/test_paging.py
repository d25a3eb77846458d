"""Pages of small lists: limits, sorting with missing values, search ignoring case."""

from __future__ import annotations

from typing import Any

import pytest

from ringfort.errors import ValidationError
from ringfort.services.paging import MAX_LIMIT, PageRequest, page_of

ITEMS = [
    {"name": "b", "size": 2},
    {"name": "A", "size": None},
    {"name": "c", "size": 1},
]


def page(request: PageRequest) -> tuple[list[str], int]:
    found = page_of(
        ITEMS,
        request,
        field=lambda item, key: item.get(key),
        sortable=("name", "size"),
        text_fields=("name",),
    )
    return [item["name"] for item in found.items], found.total


def test_the_natural_order_is_kept_unless_sorted() -> None:
    assert page(PageRequest()) == (["b", "A", "c"], 3)
    assert page(PageRequest(descending=True)) == (["c", "A", "b"], 3)
    assert page(PageRequest(order="size")) == (["c", "b", "A"], 3)  # missing values last
    assert page(PageRequest(order="size", descending=True)) == (["A", "b", "c"], 3)


def test_a_page_is_a_slice_of_the_matching_items() -> None:
    assert page(PageRequest(limit=1, offset=1)) == (["A"], 3)
    assert page(PageRequest(offset=5)) == ([], 3)
    assert page(PageRequest(search="a")) == (["A"], 1)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [({"limit": 0}, "limit"), ({"limit": MAX_LIMIT + 1}, "limit"), ({"offset": -1}, "offset")],
)
def test_bad_pages_name_the_field(arguments: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        PageRequest(**arguments)
    assert raised.value.field == field


def test_an_unknown_order_names_the_sortable_fields() -> None:
    with pytest.raises(ValidationError, match="sort by one of: name, size") as raised:
        page(PageRequest(order="colour"))
    assert raised.value.field == "order"
