"""Where a call can be sent: an extension, a menu, a time condition, a queue, or hang-up.

A destination is written ``kind:target`` (``extension:101``, ``ivr:main``,
``timecond:office``, ``queue:support``, ``voicemail:101``) or just ``hangup`` or
``voicemail`` (the voicemail main menu); that text form is what configuration,
the database and the command line carry. A queue may carry the priority its callers get
(``queue:support;priority=5``): they wait ahead of callers with a lower one.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from ringfort.pbx.forwarding import BUSY_CAUSES, FAILOVER_CAUSES

__all__ = [
    "MAX_PRIORITY",
    "NAME_PATTERN",
    "NUMBER_PATTERN",
    "PLANNED_KINDS",
    "Destination",
    "DestinationKind",
    "is_name",
    "is_number",
    "mailbox_after",
]

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
"""Names of menus, time conditions and queues: 1 to 64 of a-z, 0-9, ``-`` and ``_``, not
starting with ``-`` or ``_``."""
NUMBER_PATTERN = re.compile(r"[0-9]{1,20}")
"""Numbers callers dial: 1 to 20 digits."""
MAX_PRIORITY = 100
"""The highest caller priority a queue destination may give."""

PLANNED_KINDS = ("external",)
"""Kinds that will exist; parsing them says so rather than calling them unknown."""


def is_name(text: str) -> bool:
    """Whether ``text`` is a valid menu or time-condition name."""
    return NAME_PATTERN.fullmatch(text) is not None


def is_number(text: str) -> bool:
    """Whether ``text`` is a valid dialled number."""
    return NUMBER_PATTERN.fullmatch(text) is not None


class DestinationKind(enum.StrEnum):
    """What a destination names."""

    EXTENSION = "extension"
    """The target is an extension number, e.g. ``101``."""
    IVR = "ivr"
    """The target is a menu name."""
    TIMECOND = "timecond"
    """The target is a time-condition name."""
    QUEUE = "queue"
    """The target is a queue name."""
    HANGUP = "hangup"
    """No target: say goodbye and hang up."""
    VOICEMAIL = "voicemail"
    """The target is a mailbox (an extension number): the caller leaves a message. With no
    target: the voicemail main menu, where callers log in to a mailbox by number and PIN."""
    FEATURE = "feature"
    """A feature code the caller dialled (``*45500``, agent login); never configured."""


_EXAMPLES = {
    DestinationKind.EXTENSION: "extension:101",
    DestinationKind.IVR: "ivr:main",
    DestinationKind.TIMECOND: "timecond:office-hours",
    DestinationKind.QUEUE: "queue:support",
    DestinationKind.VOICEMAIL: "voicemail:101",
    DestinationKind.HANGUP: "hangup",
}


@dataclass(frozen=True, slots=True)
class Destination:
    """A place a call goes: ``extension:101``, ``ivr:main``, ``timecond:office``, ``queue:support``,
    ``hangup``."""

    kind: DestinationKind
    target: str = ""
    """An extension number or a name; empty for ``hangup``."""
    priority: int = 0
    """For a queue: callers sent this way wait ahead of those with a lower priority."""
    busy: bool = False
    """For a mailbox: the extension was busy (the caller hears so); never configured."""

    @classmethod
    def parse(cls, text: str) -> Destination:
        """Read the text form; ValueError with a message a person can act on.

        The kind is case-insensitive and blanks around the parts are ignored;
        targets are checked as numbers or names, so what parses can be stored.
        """
        kind_text, colon, target = text.strip().partition(":")
        kind_text = kind_text.strip().lower()
        target = target.strip()
        if not kind_text:
            raise ValueError(f"empty destination {text!r}; write e.g. {_examples()}")
        try:
            kind = DestinationKind(kind_text)
        except ValueError:
            if kind_text in PLANNED_KINDS:
                raise ValueError(
                    f"destination kind {kind_text!r} is not available yet; use one of {_kinds()}"
                ) from None
            raise ValueError(
                f"unknown destination kind {kind_text!r} in {text!r}; use one of {_kinds()}"
                f" (e.g. {_examples()})"
            ) from None
        if kind is DestinationKind.FEATURE:
            raise ValueError(
                f"{text!r}: feature codes are dialled from phones, not configured as"
                f" destinations; use one of {_kinds()}"
            )
        if kind is DestinationKind.HANGUP:
            if target:
                raise ValueError(f"'hangup' takes no target, got {text!r}; write just: hangup")
            return cls(kind)
        if kind is DestinationKind.VOICEMAIL and not target:
            return cls(kind)  # the main menu
        if not colon or not target:
            raise ValueError(f"{text!r}: {kind.value} needs {_what(kind)}, e.g. {_EXAMPLES[kind]}")
        priority = 0
        if kind is DestinationKind.QUEUE and ";" in target:
            target, _, option = target.partition(";")
            priority = _priority(text, option.strip())
            target = target.strip()
        if kind in (DestinationKind.EXTENSION, DestinationKind.VOICEMAIL):
            if not is_number(target):
                raise ValueError(
                    f"{text!r}: {target!r} is not an extension number (digits only),"
                    f" e.g. {_EXAMPLES[kind]}"
                )
        elif not is_name(target):
            hint = " (names are lower case)" if is_name(target.lower()) else ""
            raise ValueError(
                f"{text!r}: {target!r} is not {_what(kind)}{hint}; use 1 to 64 of a-z, 0-9,"
                f" '-' and '_', e.g. {_EXAMPLES[kind]}"
            )
        return cls(kind, target, priority)

    def __str__(self) -> str:
        if not self.target:
            return self.kind.value
        if self.priority:
            return f"{self.kind.value}:{self.target};priority={self.priority}"
        return f"{self.kind.value}:{self.target}"


def _priority(text: str, option: str) -> int:
    name, equals, value = option.partition("=")
    if name.strip().lower() != "priority" or not equals or not value.strip().isdigit():
        raise ValueError(
            f"{text!r}: a queue destination takes only a priority, e.g. queue:support;priority=5"
        )
    priority = int(value)
    if priority > MAX_PRIORITY:
        raise ValueError(f"{text!r}: priority is 0 to {MAX_PRIORITY}")
    return priority


_WHAT = {
    DestinationKind.EXTENSION: "an extension number",
    DestinationKind.IVR: "a menu name",
    DestinationKind.TIMECOND: "a time-condition name",
    DestinationKind.QUEUE: "a queue name",
    DestinationKind.VOICEMAIL: "a mailbox (extension) number",
}


def _what(kind: DestinationKind) -> str:
    return _WHAT[kind]


def _kinds() -> str:
    return ", ".join(kind.value for kind in DestinationKind if kind is not DestinationKind.FEATURE)


def _examples() -> str:
    return ", ".join(_EXAMPLES.values())


def mailbox_after(number: str, cause: str) -> Destination | None:
    """Extension ``number``'s mailbox, if a call it did not take for ``cause`` (a
    failure's cause: ``busy``, ``no-answer``, ...) goes there; the busy greeting for a
    busy or declined one. None for a cause no mailbox is for (the caller hung up, no
    shared codec). Whether the extension has voicemail on is the caller's question."""
    if cause not in FAILOVER_CAUSES:
        return None
    return Destination(DestinationKind.VOICEMAIL, number, busy=cause in BUSY_CAUSES)
