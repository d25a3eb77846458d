"""Auto-attendant menus: adding, changing, listing and deleting them, each change checked.

Checks are of two kinds. :func:`validate_menu` looks at the menu alone (names,
prompt names, digits, timeouts, retries). :meth:`NumberPlan.check_number` and
:meth:`NumberPlan.check_destinations` look at it against everything else: its
number must be free in the one number space, and every place it sends calls
must exist.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import re
from collections.abc import Callable, Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ringfort.apps.ivr.config import IvrMenu, MenuOption
from ringfort.db import models
from ringfort.db.repositories import PLAN_MENU, IvrMenuRepository, PlanEntry
from ringfort.errors import ConflictError, NotFoundError, ValidationError
from ringfort.pbx.destination import Destination, DestinationKind, is_name, is_number
from ringfort.services.database import Database
from ringfort.services.numberplan import NumberPlan, ensure_unreferenced

__all__ = [
    "DIGITS_PATTERN",
    "LANGUAGE_PATTERN",
    "MAX_PROMPTS",
    "MAX_RETRIES",
    "MAX_TIMEOUT",
    "MIN_TIMEOUT",
    "PROMPT_PATTERN",
    "IvrService",
    "check_menu",
    "menu_from_row",
    "validate_config_name",
    "validate_config_number",
    "validate_menu",
    "write_menu",
]

DIGITS_PATTERN = re.compile(r"[0-9*#]{1,8}")
"""Keys of an option: 1 to 8 of 0-9, ``*`` and ``#``."""
PROMPT_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*(?:/[a-z0-9][a-z0-9_-]*)*")
"""Prompt names as files under ``prompts/<language>/`` are named: ``welcome``, ``digits/7``."""
PROMPT_MAX_LENGTH = 64
LANGUAGE_PATTERN = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?")
"""A language code such as ``en``, ``ru`` or ``pt-BR``."""
MAX_PROMPTS = 20
"""Prompts in one list; more is a mistake, not a menu."""
MIN_TIMEOUT = 0.5
MAX_TIMEOUT = 60.0
"""Seconds a menu may wait for a key (first or next)."""
MAX_RETRIES = 10


def validate_config_name(name: str, *, what: str) -> str:
    """``name`` if it can name a menu or time condition; ValidationError otherwise."""
    if not is_name(name):
        hint = " (names are lower case)" if is_name(name.lower()) else ""
        raise ValidationError(
            f"{what} name {name!r} is not valid{hint}: use 1 to 64 of a-z, 0-9, '-' and '_',"
            f" starting with a letter or digit, e.g. main or office-hours",
            field="name",
        )
    return name


def validate_config_number(number: str | None) -> str | None:
    """``number`` if it is None or 1 to 20 digits; ValidationError otherwise."""
    if number is not None and not is_number(number):
        raise ValidationError(
            f"number must be 1 to 20 digits (0-9), got {number!r}", field="number"
        )
    return number


def _validate_prompts(names: Sequence[str], field: str, *, at_least_one: bool) -> None:
    if at_least_one and not names:
        raise ValidationError(f"{field} needs at least one prompt name, e.g. welcome", field=field)
    if len(names) > MAX_PROMPTS:
        raise ValidationError(f"{field}: at most {MAX_PROMPTS} prompts", field=field)
    for name in names:
        if len(name) > PROMPT_MAX_LENGTH or not PROMPT_PATTERN.fullmatch(name):
            raise ValidationError(
                f"{field}: {name!r} is not a prompt name; use the file name without .wav,"
                f" in lower case, e.g. welcome or digits/7",
                field=field,
            )


def _validate_seconds(value: float, field: str) -> None:
    if not MIN_TIMEOUT <= value <= MAX_TIMEOUT:
        raise ValidationError(
            f"{field} must be {MIN_TIMEOUT:g} to {MAX_TIMEOUT:g} seconds, got {value:g}",
            field=field,
        )


def _validate_retries(value: int, field: str) -> None:
    if not 0 <= value <= MAX_RETRIES:
        raise ValidationError(f"{field} must be 0 to {MAX_RETRIES}, got {value}", field=field)


def validate_menu(menu: IvrMenu) -> IvrMenu:
    """``menu`` with its options in key order (0-9, ``*``, ``#``), if acceptable on its own.

    ValidationError names the field at fault. Whether its number is free and its
    destinations exist is checked against the number plan, not here.
    """
    validate_config_name(menu.name, what="menu")
    validate_config_number(menu.number)
    if not LANGUAGE_PATTERN.fullmatch(menu.language):
        raise ValidationError(
            f"language {menu.language!r} is not a language code; use e.g. en or ru",
            field="language",
        )
    _validate_prompts(menu.greeting, "greeting", at_least_one=True)
    _validate_prompts(menu.timeout_prompt, "timeout_prompt", at_least_one=False)
    _validate_prompts(menu.invalid_prompt, "invalid_prompt", at_least_one=False)
    _validate_seconds(menu.digit_timeout, "timeout")
    _validate_seconds(menu.interdigit_timeout, "interdigit_timeout")
    _validate_retries(menu.timeout_retries, "timeout_retries")
    _validate_retries(menu.invalid_retries, "invalid_retries")
    seen: set[str] = set()
    for option in menu.options:
        if not DIGITS_PATTERN.fullmatch(option.digits):
            raise ValidationError(
                f"option keys {option.digits!r} are not valid: use 1 to 8 of 0-9, * and #",
                field="options",
            )
        if option.digits in seen:
            raise ValidationError(
                f"option {option.digits} is given twice; keep one", field=f"options.{option.digits}"
            )
        seen.add(option.digits)
    options = tuple(sorted(menu.options, key=_key_order))
    if options == menu.options:
        return menu
    return dataclasses.replace(menu, options=options)


_KEYPAD = "0123456789*#"


def _key_order(option: MenuOption | models.IvrOption) -> tuple[int, ...]:
    """Digits first, then ``*`` and ``#``, as people list keys (plain sorting puts ``*`` first)."""
    return tuple(_KEYPAD.index(key) if key in _KEYPAD else len(_KEYPAD) for key in option.digits)


def check_menu(plan: NumberPlan, menu: IvrMenu) -> None:
    """ConflictError or ValidationError unless ``menu``'s number is free and its places exist."""
    itself = (PLAN_MENU, menu.name)
    plan.check_number(menu.number, itself=itself)
    plan.check_destinations(menu.destinations(), itself=itself)


def _prompts_text(names: Sequence[str]) -> str:
    return json.dumps(list(names))


def _prompts(text: str) -> tuple[str, ...]:
    return tuple(str(name) for name in json.loads(text))


def menu_from_row(row: models.IvrMenu) -> IvrMenu:
    """The menu a stored row (with its options) describes."""
    return IvrMenu(
        name=row.name,
        number=row.number,
        language=row.language,
        greeting=_prompts(row.greeting),
        options=tuple(
            MenuOption(option.digits, Destination.parse(option.destination))
            for option in sorted(row.options, key=_key_order)
        ),
        direct_dial=row.direct_dial,
        digit_timeout=row.digit_timeout,
        interdigit_timeout=row.interdigit_timeout,
        timeout_retries=row.timeout_retries,
        timeout_prompt=_prompts(row.timeout_prompt),
        timeout_destination=Destination.parse(row.timeout_destination),
        invalid_retries=row.invalid_retries,
        invalid_prompt=_prompts(row.invalid_prompt),
        invalid_destination=Destination.parse(row.invalid_destination),
    )


async def write_menu(session: AsyncSession, menu: IvrMenu) -> bool:
    """Store ``menu`` over the row of its name, or as a new row; True when it is new.

    No checks and no commit: the caller validated the menu against the plan and
    ends the unit of work.
    """
    menus = IvrMenuRepository(session=session)
    row = await menus.get(menu.name)
    created = row is None
    if row is None:
        row = models.IvrMenu(name=menu.name)
    row.number = menu.number
    row.language = menu.language
    row.greeting = _prompts_text(menu.greeting)
    row.direct_dial = menu.direct_dial
    row.digit_timeout = menu.digit_timeout
    row.interdigit_timeout = menu.interdigit_timeout
    row.timeout_retries = menu.timeout_retries
    row.timeout_prompt = _prompts_text(menu.timeout_prompt)
    row.timeout_destination = str(menu.timeout_destination)
    row.invalid_retries = menu.invalid_retries
    row.invalid_prompt = _prompts_text(menu.invalid_prompt)
    row.invalid_destination = str(menu.invalid_destination)
    # Change options in place rather than replacing the list: the unit of work
    # inserts before it deletes, and a re-added key would break UNIQUE(menu_id, digits).
    wanted = {option.digits: str(option.destination) for option in menu.options}
    for option in list(row.options):
        if option.digits not in wanted:
            row.options.remove(option)
        else:
            option.destination = wanted.pop(option.digits)
    row.options.extend(
        models.IvrOption(digits=digits, destination=destination)
        for digits, destination in wanted.items()
    )
    if created:
        # Staged only now that every column is set, so no autoflush sees it half-filled.
        menus.add(row)
    return created


class IvrService:
    """The one place menus change, for the CLI, the REST API, the web UI and YAML import.

    ``on_change`` is called with the menu's name after every committed change.
    """

    def __init__(self, *, db: Database, on_change: Callable[[str], None] | None = None) -> None:
        self._db = db
        self._on_change = on_change

    def _changed(self, name: str) -> None:
        if self._on_change is not None:
            self._on_change(name)

    async def add(self, menu: IvrMenu) -> IvrMenu:
        """Add ``menu``; returns it as stored.

        ValidationError for a bad field or a destination that does not exist,
        ConflictError when the name or number is taken.
        """
        return await self._store(validate_menu(menu), create=True)

    async def update(self, menu: IvrMenu) -> IvrMenu:
        """Replace the menu called ``menu.name`` with ``menu``; returns it as stored.

        NotFoundError when there is no such menu; otherwise as :meth:`add`.
        """
        return await self._store(validate_menu(menu), create=False)

    async def _store(self, menu: IvrMenu, *, create: bool) -> IvrMenu:
        async with self._db.session() as session:
            exists = await IvrMenuRepository(session=session).get(menu.name) is not None
            if create and exists:
                raise ConflictError(
                    f"menu {menu.name} already exists; change it instead, or choose another name"
                )
            if not create and not exists:
                raise NotFoundError(_not_found(menu.name))
            plan = await NumberPlan.load(session)
            plan.put(PlanEntry(PLAN_MENU, menu.name, menu.number))
            check_menu(plan, menu)
            await write_menu(session, menu)
            try:
                await session.commit()
            except IntegrityError as exc:
                # Another process took the name or number between the check and the commit.
                raise ConflictError(
                    f"menu {menu.name} or number {menu.number} was taken meanwhile; try again"
                ) from exc
        self._changed(menu.name)
        return menu

    async def find(self, name: str) -> IvrMenu | None:
        """The menu called ``name``, or None."""
        async with self._db.session() as session:
            row = await IvrMenuRepository(session=session).get(name)
            return None if row is None else menu_from_row(row)

    async def find_by_number(self, number: str) -> IvrMenu | None:
        """The menu ``number`` reaches, or None."""
        async with self._db.session() as session:
            row = await IvrMenuRepository(session=session).get_by_number(number)
            return None if row is None else menu_from_row(row)

    async def get(self, name: str) -> IvrMenu:
        """The menu called ``name``; NotFoundError if there is none."""
        menu = await self.find(name)
        if menu is None:
            raise NotFoundError(_not_found(name))
        return menu

    async def list(self) -> builtins.list[IvrMenu]:
        """Every menu, by name."""
        async with self._db.session() as session:
            rows = await IvrMenuRepository(session=session).list()
            return [menu_from_row(row) for row in rows]

    async def delete(self, name: str) -> None:
        """Delete the menu called ``name`` and its options.

        ConflictError naming them while other menus or time conditions still send
        calls to it; NotFoundError when there is no such menu.
        """
        async with self._db.session() as session:
            menus = IvrMenuRepository(session=session)
            row = await menus.get(name)
            if row is None:
                raise NotFoundError(_not_found(name))
            await ensure_unreferenced(
                session, Destination(DestinationKind.IVR, name), f"menu {name}"
            )
            await menus.delete(row)
            await session.commit()
        self._changed(name)


def _not_found(name: str) -> str:
    return f"menu {name} does not exist; check the name against the list of menus"
