"""How a call ended and who ended it: the vocabulary the call core publishes and the CDR stores.

Kept apart from both so that the call core and the store, which may not import
each other, spell it the same way: Asterisk's, so existing reports read it.
"""

from __future__ import annotations

import enum


class Disposition(enum.StrEnum):
    """How a call ended, as Asterisk's CDR ``disposition`` column spells it."""

    ANSWERED = "ANSWERED"
    NO_ANSWER = "NO ANSWER"
    BUSY = "BUSY"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class HangupBy(enum.StrEnum):
    """Which side ended the call."""

    CALLER = "caller"
    CALLEE = "callee"
    SYSTEM = "system"
