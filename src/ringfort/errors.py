"""Error types shared by every layer.

Two directions, as h11 has them: a *remote* error is the peer's fault and
carries the SIP status to answer with; a *local* error is our own misuse of an
API and is a bug to fix, never something to send on the wire.
"""

from __future__ import annotations


class RingfortError(Exception):
    """Base of every error Ringfort raises on purpose."""


class RemoteProtocolError(RingfortError):
    """The peer sent something we cannot accept.

    ``status`` and ``reason`` are what to answer with when an answer is
    possible (400, 420, 481, 482, 483, 505, 513, ...).
    """

    def __init__(self, reason: str, *, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class LocalProtocolError(RingfortError):
    """Our own code used a protocol object in a way it does not allow."""


class ValidationError(RingfortError):
    """A value given by a user is not acceptable; ``field`` names which one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFoundError(RingfortError):
    """The object a user named does not exist."""


class ConflictError(RingfortError):
    """The change would clash with an existing object (a duplicate number, ...)."""
