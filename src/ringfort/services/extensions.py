"""Extensions: adding, listing, removing them, setting their SIP passwords and forwarding."""

from __future__ import annotations

import builtins
import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ringfort.db.models import Extension, IvrMenu, IvrOption, Queue, TimeCondition
from ringfort.db.repositories import (
    ExtensionRepository,
    NumberPlanRepository,
    RegistrationRepository,
)
from ringfort.errors import ConflictError, NotFoundError, ValidationError
from ringfort.pbx.destination import is_number
from ringfort.pbx.forwarding import NO_FORWARDING, Forwarding
from ringfort.pbx.forwarding import ForwardingChange as ForwardingChange  # for the interfaces
from ringfort.services.database import Database
from ringfort.services.numberplan import ensure_number_free

NUMBER_MIN_DIGITS = 2
NUMBER_MAX_DIGITS = 15
"""E.164 numbers have at most 15 digits; an extension is never longer."""
NAME_MAX_LENGTH = 80
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128
GENERATED_PASSWORD_LENGTH = 20
"""20 letters and digits: about 119 bits, beyond any online guessing."""

DEMO_EXTENSIONS = (("101", "Demo 101"), ("102", "Demo 102"))

_NUMBER = re.compile(rf"[0-9]{{{NUMBER_MIN_DIGITS},{NUMBER_MAX_DIGITS}}}")
_PASSWORD_ALPHABET = string.ascii_letters + string.digits
# Printable ASCII without space: phones differ in how they encode anything
# else before hashing, so a wider alphabet would make digest auth fail on some.
_PASSWORD_CHARACTERS = frozenset(string.ascii_letters + string.digits + string.punctuation)


@dataclass(frozen=True, slots=True)
class ExtensionView:
    """What anyone may see of an extension (never its password)."""

    number: str
    name: str
    created_at: datetime
    """When the extension was added (UTC)."""
    dnd: bool = False
    """Do-not-disturb: calls find it busy."""
    forward_always: str | None = None
    """Every call goes to this number instead."""
    forward_busy: str | None = None
    """Calls that find it busy go to this number."""
    forward_no_answer: str | None = None
    """Calls it does not answer (or with no phone registered) go to this number."""


FORWARDS = ("always", "busy", "no_answer")
"""The forwards an extension has: ``forward_<name>`` in its view."""


def generate_password(length: int = GENERATED_PASSWORD_LENGTH) -> str:
    """A random password of letters and digits, easy to type into a phone's keypad menu."""
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


def validate_number(number: str) -> str:
    """``number`` if it is 2 to 15 digits; raises :class:`ValidationError` otherwise."""
    if not _NUMBER.fullmatch(number):
        raise ValidationError(
            f"number must be {NUMBER_MIN_DIGITS} to {NUMBER_MAX_DIGITS} digits (0-9),"
            f" got {number!r}",
            field="number",
        )
    return number


def validate_name(name: str) -> str:
    """``name`` without surrounding blanks, if 1 to 80 printable characters remain."""
    name = name.strip()
    if not name:
        raise ValidationError("name must not be empty", field="name")
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError(
            f"name must be at most {NAME_MAX_LENGTH} characters, got {len(name)}", field="name"
        )
    if not name.isprintable():
        raise ValidationError("name must contain only printable characters", field="name")
    return name


def validate_password(password: str) -> str:
    """``password`` if 8 to 128 printable ASCII characters without whitespace."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise ValidationError(
            f"password must be at least {PASSWORD_MIN_LENGTH} characters", field="password"
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        raise ValidationError(
            f"password must be at most {PASSWORD_MAX_LENGTH} characters", field="password"
        )
    if any(character.isspace() for character in password):
        raise ValidationError("password must not contain whitespace", field="password")
    if not _PASSWORD_CHARACTERS.issuperset(password):
        raise ValidationError(
            "password must use printable ASCII characters only (letters, digits, punctuation)",
            field="password",
        )
    return password


def forwarding_of(extension: Extension) -> Forwarding:
    """The call core's view of an extension row's forwards and do-not-disturb."""
    forwarding = Forwarding(
        always=extension.forward_always,
        busy=extension.forward_busy,
        no_answer=extension.forward_no_answer,
        dnd=extension.dnd,
    )
    # One shared object for the common case: most extensions forward nowhere.
    return forwarding if forwarding.active else NO_FORWARDING


def _view(extension: Extension) -> ExtensionView:
    return ExtensionView(
        number=extension.number,
        name=extension.name,
        created_at=extension.created_at,
        dnd=extension.dnd,
        forward_always=extension.forward_always,
        forward_busy=extension.forward_busy,
        forward_no_answer=extension.forward_no_answer,
    )


class ExtensionService:
    """The one place extensions are changed, for the CLI, the REST API and the web UI.

    ``on_change`` is called with the number after every committed change, so a
    running server can drop what it cached about that extension.
    """

    def __init__(self, *, db: Database, on_change: Callable[[str], None] | None = None) -> None:
        self._db = db
        self._on_change = on_change

    def _changed(self, number: str) -> None:
        if self._on_change is not None:
            self._on_change(number)

    async def add(
        self, number: str, name: str, password: str | None = None
    ) -> tuple[ExtensionView, str]:
        """Add an extension; returns it and the password in force (generated when None).

        Raises :class:`ValidationError` for a bad number, name or password and
        :class:`ConflictError` when the number is taken.
        """
        number = validate_number(number)
        name = validate_name(name)
        password = generate_password() if password is None else validate_password(password)
        async with self._db.session() as session:
            extensions = ExtensionRepository(session=session)
            if await extensions.exists(number):
                raise ConflictError(f"extension {number} already exists")
            # One number space: a menu's or time condition's number is not free either.
            await ensure_number_free(session, number)
            extension = Extension(number=number, name=name, sip_password=password)
            extensions.add(extension)
            try:
                await session.commit()
            except IntegrityError as exc:
                # Another process added the same number between the check and the commit.
                raise ConflictError(f"extension {number} already exists") from exc
        self._changed(number)
        return _view(extension), password

    async def list(self) -> list[ExtensionView]:
        """Every extension, in number order."""
        async with self._db.session() as session:
            extensions = await ExtensionRepository(session=session).list()
        return [_view(extension) for extension in extensions]

    async def get(self, number: str) -> ExtensionView:
        """The extension ``number``; raises :class:`NotFoundError` if there is none."""
        async with self._db.session() as session:
            return _view(await existing_extension(session, number))

    async def remove(self, number: str) -> None:
        """Remove extension ``number`` and its registrations.

        ConflictError, naming them, while a menu, a time condition or a queue still
        sends calls to it: removing it would leave callers at a dead end.
        """
        async with self._db.session() as session:
            extension = await existing_extension(session, number)
            used_by = await _destinations_naming(session, f"extension:{number}")
            if used_by:
                raise ConflictError(
                    f"extension {number} is still where {', '.join(used_by)} send calls;"
                    " point them elsewhere first (ringfort ivr set, ringfort timecond set,"
                    " ringfort queue update)"
                )
            await ExtensionRepository(session=session).delete(extension)
            await RegistrationRepository(session=session).delete_for_number(number)
            await session.commit()
        self._changed(number)

    async def rename(self, number: str, name: str) -> ExtensionView:
        """Give extension ``number`` a new name; returns it as stored."""
        name = validate_name(name)
        async with self._db.session() as session:
            extension = await existing_extension(session, number)
            extension.name = name
            await session.commit()
            view = _view(extension)
        self._changed(number)
        return view

    async def set_password(self, number: str, password: str | None = None) -> str:
        """Set the SIP password of ``number`` (generated when None); returns it."""
        password = generate_password() if password is None else validate_password(password)
        async with self._db.session() as session:
            extension = await existing_extension(session, number)
            extension.sip_password = password
            await session.commit()
        self._changed(number)
        return password

    async def set_forwarding(self, number: str, change: ForwardingChange) -> ExtensionView:
        """Change extension ``number``'s forwards and do-not-disturb; returns it as stored.

        ValidationError (naming the forward: ``always``, ``busy``, ``no_answer``) for a
        forward that is not a number, is the extension's own, or is nobody's number.
        """
        async with self._db.session() as session:
            extension = await existing_extension(session, number)
            for name in FORWARDS:
                target = getattr(change, name)
                if target is None:
                    continue
                target = target.strip()
                if target:
                    await _check_forward(session, number, target, field=name)
                setattr(extension, f"forward_{name}", target or None)
            if change.dnd is not None:
                extension.dnd = change.dnd
            await session.commit()
            view = _view(extension)
        self._changed(number)
        return view

    async def forwarding(self, number: str) -> Forwarding:
        """Extension ``number``'s forwarding; NO_FORWARDING when it has none or is no
        extension (the applications' `ForwardingStore`)."""
        async with self._db.session() as session:
            extension = await ExtensionRepository(session=session).get(number)
        return NO_FORWARDING if extension is None else forwarding_of(extension)

    async def ensure_demo(self) -> builtins.list[tuple[str, str, str]]:
        """Create the demo extensions 101 and 102 where missing.

        Returns ``(number, name, password)`` of those created by this call only;
        existing ones keep their passwords.
        """
        created: builtins.list[tuple[str, str, str]] = []
        for number, name in DEMO_EXTENSIONS:
            try:
                _, password = await self.add(number, name)
            except ConflictError:
                continue
            created.append((number, name, password))
        return created


async def _destinations_naming(session: AsyncSession, destination: str) -> list[str]:
    """Which menus (option, timeout, invalid input), time conditions and queues (overflow,
    exit key) lead to ``destination``."""
    found: list[str] = []
    menus = await session.scalars(
        select(IvrMenu).where(
            or_(
                IvrMenu.timeout_destination == destination,
                IvrMenu.invalid_destination == destination,
            )
        )
    )
    for menu in menus:
        if menu.timeout_destination == destination:
            found.append(f"menu {menu.name} (on timeout)")
        if menu.invalid_destination == destination:
            found.append(f"menu {menu.name} (on invalid input)")
    options = await session.execute(
        select(IvrMenu.name, IvrOption.digits)
        .join(IvrOption.menu)
        .where(IvrOption.destination == destination)
        .order_by(IvrMenu.name, IvrOption.digits)
    )
    found += [f"menu {name} (key {digits})" for name, digits in options]
    conditions = await session.scalars(
        select(TimeCondition).where(
            or_(
                TimeCondition.match_destination == destination,
                TimeCondition.nomatch_destination == destination,
            )
        )
    )
    for condition in conditions:
        if condition.match_destination == destination:
            found.append(f"time condition {condition.name} (in hours)")
        if condition.nomatch_destination == destination:
            found.append(f"time condition {condition.name} (out of hours)")
    queues = await session.scalars(
        select(Queue)
        .where(or_(Queue.overflow == destination, Queue.exit_destination == destination))
        .order_by(Queue.name)
    )
    for queue in queues:
        if queue.overflow == destination:
            found.append(f"queue {queue.name} (overflow)")
        if queue.exit_destination == destination:
            found.append(f"queue {queue.name} (exit key)")
    return found


async def _check_forward(session: AsyncSession, number: str, target: str, *, field: str) -> None:
    """ValidationError naming ``field`` (``always``, ``busy``, ``no_answer``) unless
    ``target`` is someone else's number."""
    which = f"the {field.replace('_', ' ')} forward"
    if not is_number(target):
        raise ValidationError(
            f"{which} must be a number of 1 to 20 digits, got {target!r}", field=field
        )
    if target == number:
        raise ValidationError(f"{which}: extension {number} cannot forward to itself", field=field)
    if await NumberPlanRepository(session=session).owner(target) is None:
        raise ValidationError(
            f"{which}: {target} is nobody's number; give an extension's, a menu's, a time"
            " condition's, a queue's or a DID's number",
            field=field,
        )


async def existing_extension(session: AsyncSession, number: str) -> Extension:
    """The extension ``number``; NotFoundError naming it when there is none."""
    extension = await ExtensionRepository(session=session).get(number)
    if extension is None:
        raise NotFoundError(f"extension {number} does not exist")
    return extension
