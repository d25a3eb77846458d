"""An extension's call forwarding and do-not-disturb, and when a call follows them.

Three forwards, as phones and other PBXs name them: *always* (the extension's phones
do not ring at all), *busy* (its phones are busy or decline the call, or do-not-disturb
is on) and *no answer* (nobody answered in the ring time, or no phone is registered).
A forward is a number, dialled for the caller as if they had dialled it: an extension,
a menu's or a queue's number. Do-not-disturb makes every call find the extension busy.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BUSY_CAUSES",
    "FAILOVER_CAUSES",
    "NO_ANSWER_CAUSES",
    "NO_FORWARDING",
    "Forwarding",
    "ForwardingChange",
]

BUSY_CAUSES = frozenset({"busy", "declined"})
"""Failures the busy forward (and the mailbox's busy greeting) is for."""
NO_ANSWER_CAUSES = frozenset({"no-answer", "unavailable"})
"""Failures the no-answer forward is for: nobody answered, or no phone to ring."""
FAILOVER_CAUSES = BUSY_CAUSES | NO_ANSWER_CAUSES
"""Every failure a forward or the mailbox may take over (not a caller who hung up, nor a
call without a shared codec)."""


@dataclass(frozen=True, slots=True)
class Forwarding:
    """Where an extension's calls go instead of ringing it; numbers, None when not set."""

    always: str | None = None
    busy: str | None = None
    no_answer: str | None = None
    dnd: bool = False
    """Do-not-disturb: the phones never ring; the call is busy (forwarded or to the
    mailbox's busy greeting as a busy call would be)."""

    def after(self, cause: str) -> str | None:
        """The number a call the extension did not take for ``cause`` goes on to, if any."""
        if cause in BUSY_CAUSES:
            return self.busy
        if cause in NO_ANSWER_CAUSES:
            return self.no_answer
        return None

    @property
    def active(self) -> bool:
        """Whether anything is set."""
        return self.dnd or any((self.always, self.busy, self.no_answer))

    def failover(self, *, mailbox: bool) -> frozenset[str]:
        """The failures that go on elsewhere: to a forward, else to the mailbox (if on)."""
        if mailbox:
            return FAILOVER_CAUSES
        causes: frozenset[str] = frozenset()
        if self.busy:
            causes |= BUSY_CAUSES
        if self.no_answer:
            causes |= NO_ANSWER_CAUSES
        return causes


@dataclass(frozen=True, slots=True)
class ForwardingChange:
    """What changes of an extension's forwarding; None leaves a field as it is.

    A forward given as ``""`` is switched off; otherwise it is a number someone has (an
    extension, a menu, a time condition, a queue, a DID) other than the extension's own.
    """

    always: str | None = None
    busy: str | None = None
    no_answer: str | None = None
    dnd: bool | None = None


NO_FORWARDING = Forwarding()
