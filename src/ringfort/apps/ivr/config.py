"""A menu's configuration as the IVR runs it (built by services from the database or YAML)."""

from __future__ import annotations

from dataclasses import dataclass

from ringfort.pbx.destination import Destination, DestinationKind

__all__ = ["IvrMenu", "MenuOption"]

_HANGUP = Destination(DestinationKind.HANGUP)


@dataclass(frozen=True, slots=True)
class MenuOption:
    """A key (or keys) the caller may press, and where it leads."""

    digits: str
    """One or more of 0-9, ``*`` and ``#``; usually one."""
    destination: Destination


@dataclass(frozen=True, slots=True)
class IvrMenu:
    """An auto-attendant menu: what the caller hears, which keys lead where, how long we wait."""

    name: str
    number: str | None = None
    """An internal number that reaches the menu directly."""
    language: str = "en"
    """The prompt language folder (``prompts/<language>/``)."""
    greeting: tuple[str, ...] = ("welcome",)
    """Prompt names played in order; a digit cuts them short."""
    options: tuple[MenuOption, ...] = ()
    direct_dial: bool = True
    """Whether the caller may dial any extension number."""
    digit_timeout: float = 5.0
    """Seconds of waiting for the first digit after the greeting."""
    interdigit_timeout: float = 2.0
    """Seconds between the digits of a multi-digit entry."""
    timeout_retries: int = 2
    """How many times no input replays the greeting before ``timeout_destination``."""
    timeout_prompt: tuple[str, ...] = ("no-input",)
    """Played when no key came in time, before the greeting again."""
    timeout_destination: Destination = _HANGUP
    invalid_retries: int = 2
    """How many times an invalid entry replays the greeting before ``invalid_destination``."""
    invalid_prompt: tuple[str, ...] = ("invalid",)
    """Played after an entry that leads nowhere, before the greeting again."""
    invalid_destination: Destination = _HANGUP

    def option_for(self, digits: str) -> Destination | None:
        """Where ``digits`` lead, if they are one of the options."""
        for option in self.options:
            if option.digits == digits:
                return option.destination
        return None

    def destinations(self) -> tuple[tuple[str, Destination], ...]:
        """Every place the menu can send a call, each with the field that names it.

        Fields are ``options.<digits>``, ``timeout_destination`` and ``invalid_destination``.
        """
        found = tuple((f"options.{option.digits}", option.destination) for option in self.options)
        return (
            *found,
            ("timeout_destination", self.timeout_destination),
            ("invalid_destination", self.invalid_destination),
        )
