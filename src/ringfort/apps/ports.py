"""What applications need from storage, as Protocols (``runtime`` hands them a service)."""

from __future__ import annotations

from typing import Protocol

from ringfort.apps.ivr.config import IvrMenu
from ringfort.apps.timecond import TimeCondition
from ringfort.pbx.destination import Destination


class AppDirectory(Protocol):
    """Looks up the configuration applications run from."""

    async def menu(self, name: str) -> IvrMenu | None:
        """The menu called ``name``, or None if there is none."""
        ...

    async def time_condition(self, name: str) -> TimeCondition | None:
        """The time condition called ``name``, or None if there is none."""
        ...

    async def extension_exists(self, number: str) -> bool:
        """Whether ``number`` is an extension (for a menu's direct dial)."""
        ...

    async def resolve(self, number: str) -> Destination | None:
        """The menu or time condition ``number`` reaches, or None if it is neither's."""
        ...
