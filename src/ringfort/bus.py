"""The in-process event bus: the seam between the call core and its observers.

Publishers (calls, agents, queues) know nothing of who listens; the CDR and
queue-log writers, the live panel, metrics and the cluster subscribe by event
type. Handlers run synchronously in the publisher's turn of the event loop and
must not block; one failing handler does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[Any], None]


class EventBus:
    """Typed publish/subscribe within one process."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = {}

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Call ``handler`` for every published event of ``event_type`` (or a subclass).

        Returns a function that cancels the subscription.
        """
        handlers = self._handlers.setdefault(event_type, [])
        handlers.append(handler)

        def unsubscribe() -> None:
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

    def publish(self, event: object) -> None:
        """Deliver ``event`` to the handlers of its type and of its base classes."""
        for cls in type(event).__mro__:
            for handler in list(self._handlers.get(cls, ())):
                try:
                    handler(event)
                except Exception:
                    log.exception("handler %r failed on %s", handler, type(event).__name__)
