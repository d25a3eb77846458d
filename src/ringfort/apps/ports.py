"""What applications need from storage, as Protocols (``runtime`` hands them a service)."""

from __future__ import annotations

from typing import Protocol

from ringfort.apps.ivr.config import IvrMenu
from ringfort.apps.timecond import TimeCondition
from ringfort.pbx.destination import Destination
from ringfort.pbx.forwarding import Forwarding, ForwardingChange


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


class ForwardingStore(Protocol):
    """Extensions' call forwarding and do-not-disturb, read by calls and set by phones."""

    async def forwarding(self, number: str) -> Forwarding:
        """Extension ``number``'s forwarding; NO_FORWARDING when it has none or is not an
        extension."""
        ...

    async def set_forwarding(self, number: str, change: ForwardingChange) -> object:
        """Change it; ValidationError (``ringfort.errors``) for a forward to nobody's
        number, NotFoundError for no such extension."""
        ...
