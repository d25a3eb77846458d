"""Menus and time conditions as plain documents: what YAML files and ``--json`` output hold.

A document is a mapping of human-friendly keys (``timeout``, ``options`` as
``{"1": "extension:101"}``, ``rules`` as ``["mon-fri 09:00-18:00"]``). Reading one
accepts values typed (from JSON) or as text (from YAML, read without YAML's
guessing so that ``0700`` stays ``0700`` and the language ``no`` stays ``no``),
and a ValidationError names the key at fault.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from ringfort.apps.ivr.config import IvrMenu, MenuOption
from ringfort.apps.timecond import TimeCondition, WeeklyRule
from ringfort.errors import ValidationError
from ringfort.pbx.destination import Destination

__all__ = [
    "MENU_KEYS",
    "TIME_CONDITION_KEYS",
    "menu_from_document",
    "menu_to_document",
    "parse_destination",
    "time_condition_from_document",
    "time_condition_to_document",
]

MENU_KEYS = (
    "name", "number", "language", "greeting", "options", "direct_dial", "timeout",
    "interdigit_timeout", "timeout_retries", "timeout_prompt", "timeout_destination",
    "invalid_retries", "invalid_prompt", "invalid_destination",
)  # fmt: skip
"""The keys of a menu document, in the order they are written."""
TIME_CONDITION_KEYS = ("name", "number", "timezone", "rules", "holidays", "match", "nomatch")
"""The keys of a time-condition document, in the order they are written."""

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def parse_destination(value: object, field: str) -> Destination:
    """The destination written as ``value``; ValidationError naming ``field`` otherwise."""
    if not isinstance(value, str):
        raise ValidationError(
            f"{field} must be a destination such as extension:101, ivr:main or hangup",
            field=field,
        )
    try:
        return Destination.parse(value)
    except ValueError as error:
        raise ValidationError(f"{field}: {error}", field=field) from None


def _seconds(value: float) -> float | int:
    # 5 reads better than 5.0 in a file a person edits.
    return int(value) if value.is_integer() else value


def menu_to_document(menu: IvrMenu) -> dict[str, Any]:
    """``menu`` as a document (``number`` None when it has none)."""
    return {
        "name": menu.name,
        "number": menu.number,
        "language": menu.language,
        "greeting": list(menu.greeting),
        "options": {option.digits: str(option.destination) for option in menu.options},
        "direct_dial": menu.direct_dial,
        "timeout": _seconds(menu.digit_timeout),
        "interdigit_timeout": _seconds(menu.interdigit_timeout),
        "timeout_retries": menu.timeout_retries,
        "timeout_prompt": list(menu.timeout_prompt),
        "timeout_destination": str(menu.timeout_destination),
        "invalid_retries": menu.invalid_retries,
        "invalid_prompt": list(menu.invalid_prompt),
        "invalid_destination": str(menu.invalid_destination),
    }


def time_condition_to_document(condition: TimeCondition) -> dict[str, Any]:
    """``condition`` as a document; holidays as ISO date strings."""
    return {
        "name": condition.name,
        "number": condition.number,
        "timezone": condition.timezone,
        "rules": [str(rule) for rule in condition.rules],
        "holidays": [day.isoformat() for day in condition.holidays],
        "match": str(condition.match_destination),
        "nomatch": str(condition.nomatch_destination),
    }


def menu_from_document(document: Mapping[str, Any]) -> IvrMenu:
    """The menu a document describes; keys left out take the defaults."""
    _only_known(document, MENU_KEYS, "menu")
    defaults = IvrMenu(name="defaults")
    options_value = document.get("options")
    if options_value is None:
        options_value = {}
    if not isinstance(options_value, Mapping):
        raise ValidationError(
            "options must map keys to destinations, e.g. {'1': 'extension:101'}", field="options"
        )
    options = tuple(
        MenuOption(_key(digits), parse_destination(target, f"options.{_key(digits)}"))
        for digits, target in options_value.items()
    )

    def get(key: str, default: object) -> object:
        value = document.get(key)
        return default if value is None else value

    return IvrMenu(
        name=_text(document.get("name"), "name"),
        number=_number(document.get("number")),
        language=_text(get("language", defaults.language), "language"),
        greeting=_prompts(get("greeting", defaults.greeting), "greeting"),
        options=options,
        direct_dial=_bool(get("direct_dial", defaults.direct_dial), "direct_dial"),
        digit_timeout=_float(get("timeout", defaults.digit_timeout), "timeout"),
        interdigit_timeout=_float(
            get("interdigit_timeout", defaults.interdigit_timeout), "interdigit_timeout"
        ),
        timeout_retries=_int(get("timeout_retries", defaults.timeout_retries), "timeout_retries"),
        timeout_prompt=_prompts(get("timeout_prompt", defaults.timeout_prompt), "timeout_prompt"),
        timeout_destination=parse_destination(
            get("timeout_destination", str(defaults.timeout_destination)), "timeout_destination"
        ),
        invalid_retries=_int(get("invalid_retries", defaults.invalid_retries), "invalid_retries"),
        invalid_prompt=_prompts(get("invalid_prompt", defaults.invalid_prompt), "invalid_prompt"),
        invalid_destination=parse_destination(
            get("invalid_destination", str(defaults.invalid_destination)), "invalid_destination"
        ),
    )


def time_condition_from_document(document: Mapping[str, Any]) -> TimeCondition:
    """The time condition a document describes; ``holidays`` and ``number`` may be left out."""
    _only_known(document, TIME_CONDITION_KEYS, "time condition")
    name = _text(document.get("name"), "name")
    timezone = _text(document.get("timezone"), "timezone", example="Europe/Moscow")
    rules_value = document.get("rules")
    if isinstance(rules_value, str):
        rules_value = [rules_value]
    if not isinstance(rules_value, list) or not rules_value:
        raise ValidationError(
            "rules must be a list of hours such as ['mon-fri 09:00-18:00']", field="rules"
        )
    rules = []
    for text in rules_value:
        if not isinstance(text, str):
            raise ValidationError(
                f"rule {text!r} must be text like 'mon-fri 09:00-18:00'", field="rules"
            )
        try:
            rules.append(WeeklyRule.parse(text))
        except ValueError as error:
            raise ValidationError(f"rules: {error}", field="rules") from None
    holidays_value = document.get("holidays")
    if holidays_value is None:
        holidays_value = []
    if not isinstance(holidays_value, list):
        raise ValidationError(
            "holidays must be a list of dates such as [2026-12-31]", field="holidays"
        )
    holidays = tuple(_date(value) for value in holidays_value)
    return TimeCondition(
        name=name,
        timezone=timezone,
        rules=tuple(rules),
        match_destination=parse_destination(_required(document, "match"), "match"),
        nomatch_destination=parse_destination(_required(document, "nomatch"), "nomatch"),
        holidays=holidays,
        number=_number(document.get("number")),
    )


def _only_known(document: Mapping[str, Any], keys: tuple[str, ...], what: str) -> None:
    if not isinstance(document, Mapping):
        raise ValidationError(f"a {what} must be a mapping of keys to values")
    for key in document:
        if key not in keys:
            raise ValidationError(
                f"unknown {what} key {key!r}; the keys are {', '.join(keys)}", field=str(key)
            )


def _required(document: Mapping[str, Any], key: str) -> object:
    value = document.get(key)
    if value is None:
        raise ValidationError(
            f"{key} is required: a destination such as extension:101 or ivr:main", field=key
        )
    return value


def _text(value: object, field: str, *, example: str = "main") -> str:
    if value is None:
        raise ValidationError(f"{field} is required, e.g. {field}: {example}", field=field)
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text, got {value!r}", field=field)
    return value


def _key(value: object) -> str:
    # JSON and typed callers may give option keys as numbers.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValidationError(f"option key {value!r} must be digits, * or #", field="options")
    return value


def _number(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValidationError(f"number must be digits, got {value!r}", field="number")
    return value


def _prompts(value: object, field: str) -> tuple[str, ...]:
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not all(isinstance(name, str) for name in names):
        raise ValidationError(
            f"{field} must be a list of prompt names, e.g. [welcome]", field=field
        )
    return tuple(name.strip() for name in names if name.strip())


def _bool(value: object, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
    raise ValidationError(f"{field} must be true or false, got {value!r}", field=field)


def _float(value: object, field: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
    else:
        number = math.nan
    if not math.isfinite(number):
        raise ValidationError(f"{field} must be a number of seconds, got {value!r}", field=field)
    return number


def _int(value: object, field: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ValidationError(f"{field} must be a whole number, got {value!r}", field=field)


def _date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        raise ValidationError(f"holiday {value!r} must be a date, not a time", field="holidays")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationError(
        f"holiday {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-12-31",
        field="holidays",
    )
