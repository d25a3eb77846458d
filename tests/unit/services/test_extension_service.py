"""ExtensionService: validation, conflicts, generated passwords, removal with bindings."""

from __future__ import annotations

import string

import pytest

from ringfort.errors import ConflictError, NotFoundError, ValidationError
from ringfort.pbx.ports import Binding
from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService, generate_password
from ringfort.services.store_ports import SqlBindingStore, SqlExtensionDirectory


def a_binding(number: str, contact: str) -> Binding:
    return Binding(
        number=number,
        contact=contact,
        expires_at=4_000_000_000.0,
        call_id="c",
        cseq=1,
        q=None,
        transport="UDP",
        source_host="192.0.2.10",
        source_port=5060,
        behind_nat=False,
    )


async def test_add_with_a_password_keeps_it(db: Database) -> None:
    view, password = await ExtensionService(db=db).add("101", "Alice", "correct-horse")

    assert (view.number, view.name, password) == ("101", "Alice", "correct-horse")
    assert view.created_at.tzinfo is not None
    credentials = await SqlExtensionDirectory(db=db).credentials("101")
    assert credentials is not None
    assert credentials.password == "correct-horse"


async def test_add_without_a_password_generates_a_strong_one(db: Database) -> None:
    _, password = await ExtensionService(db=db).add("101", "Alice")

    assert len(password) == 20
    assert set(password) <= set(string.ascii_letters + string.digits)
    credentials = await SqlExtensionDirectory(db=db).credentials("101")
    assert credentials is not None
    assert credentials.password == password


def test_generated_passwords_differ() -> None:
    assert len({generate_password() for _ in range(50)}) == 50


async def test_add_strips_blanks_around_the_name(db: Database) -> None:
    view, _ = await ExtensionService(db=db).add("101", "  Front desk  ")

    assert view.name == "Front desk"


@pytest.mark.parametrize(
    ("number", "name", "password", "field"),
    [
        ("1", "A", None, "number"),
        ("1234567890123456", "A", None, "number"),
        ("10a", "A", None, "number"),
        ("+101", "A", None, "number"),
        ("١٠١", "A", None, "number"),  # Arabic-Indic digits are digits to str.isdigit
        ("101", "", None, "name"),
        ("101", "   ", None, "name"),
        ("101", "x" * 81, None, "name"),
        ("101", "tab\there", None, "name"),
        ("101", "A", "short", "password"),
        ("101", "A", "has a space", "password"),
        ("101", "A", "x" * 129, "password"),
        ("101", "A", "pässwörter", "password"),
    ],
)
async def test_add_rejects_bad_input_naming_the_field(
    db: Database, number: str, name: str, password: str | None, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await ExtensionService(db=db).add(number, name, password)

    assert caught.value.field == field
    assert field in caught.value.message
    assert await ExtensionService(db=db).list() == []


async def test_add_accepts_the_shortest_and_longest_numbers(db: Database) -> None:
    service = ExtensionService(db=db)
    await service.add("10", "Short")
    await service.add("123456789012345", "Long")

    assert [v.number for v in await service.list()] == ["10", "123456789012345"]


async def test_adding_a_taken_number_is_a_conflict(db: Database) -> None:
    service = ExtensionService(db=db)
    await service.add("101", "Alice")

    with pytest.raises(ConflictError, match="101"):
        await service.add("101", "Bob")
    assert [v.name for v in await service.list()] == ["Alice"]


async def test_list_is_in_number_order(db: Database) -> None:
    service = ExtensionService(db=db)
    for number in ("1000", "102", "101"):
        await service.add(number, f"Ext {number}")

    assert [v.number for v in await service.list()] == ["101", "102", "1000"]


async def test_get_returns_the_extension_or_raises_not_found(db: Database) -> None:
    service = ExtensionService(db=db)
    added, _ = await service.add("101", "Alice")

    assert await service.get("101") == added
    with pytest.raises(NotFoundError, match="999"):
        await service.get("999")


async def test_remove_deletes_the_extension_and_its_registrations(db: Database) -> None:
    service = ExtensionService(db=db)
    store = SqlBindingStore(db=db)
    await service.add("101", "Alice")
    await service.add("102", "Bob")
    await store.save_bindings([a_binding("101", "sip:a"), a_binding("102", "sip:b")], [])

    await service.remove("101")

    assert [v.number for v in await service.list()] == ["102"]
    assert [(b.number, b.contact) for b in await store.load_bindings()] == [("102", "sip:b")]


async def test_removing_a_missing_extension_raises_not_found(db: Database) -> None:
    with pytest.raises(NotFoundError):
        await ExtensionService(db=db).remove("101")


async def test_set_password_changes_it_and_generates_when_none(db: Database) -> None:
    service = ExtensionService(db=db)
    await service.add("101", "Alice", "first-password")

    assert await service.set_password("101", "second-password") == "second-password"
    generated = await service.set_password("101")

    assert len(generated) == 20
    credentials = await SqlExtensionDirectory(db=db).credentials("101")
    assert credentials is not None
    assert credentials.password == generated


async def test_set_password_validates_and_needs_an_existing_extension(db: Database) -> None:
    service = ExtensionService(db=db)
    with pytest.raises(NotFoundError):
        await service.set_password("101", "long-enough")
    await service.add("101", "Alice")
    with pytest.raises(ValidationError) as caught:
        await service.set_password("101", "short")
    assert caught.value.field == "password"


async def test_changes_are_announced_with_the_number(db: Database) -> None:
    changed: list[str] = []
    service = ExtensionService(db=db, on_change=changed.append)

    await service.add("101", "Alice")
    await service.set_password("101")
    await service.remove("101")
    with pytest.raises(NotFoundError):
        await service.remove("101")

    assert changed == ["101", "101", "101"]


async def test_ensure_demo_creates_101_and_102_once(db: Database) -> None:
    service = ExtensionService(db=db)

    created = await service.ensure_demo()
    again = await service.ensure_demo()

    assert [(number, name) for number, name, _ in created] == [
        ("101", "Demo 101"),
        ("102", "Demo 102"),
    ]
    assert all(len(password) == 20 for _, _, password in created)
    assert again == []


async def test_ensure_demo_creates_only_the_missing_one(db: Database) -> None:
    service = ExtensionService(db=db)
    await service.add("101", "Reception", "kept-password")

    created = await service.ensure_demo()

    assert [number for number, _, _ in created] == ["102"]
    assert (await service.get("101")).name == "Reception"
