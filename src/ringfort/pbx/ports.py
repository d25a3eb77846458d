"""What the call core needs from storage, as Protocols.

The call core never imports the database; ``runtime`` hands it objects from
``services`` that satisfy these Protocols.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ringfort.media.engine import AudioClip
from ringfort.pbx.destination import Destination
from ringfort.pbx.forwarding import NO_FORWARDING, Forwarding


@dataclass(frozen=True, slots=True)
class Binding:
    """One registered contact of an extension (RFC 3261 §10.3)."""

    number: str
    """The extension (address-of-record user part)."""
    contact: str
    """The Contact URI exactly as the phone sent it."""
    expires_at: float
    """Wall-clock time (Unix seconds) when the binding lapses."""
    call_id: str
    cseq: int
    q: float | None
    transport: str
    """``UDP`` or ``TCP``: how the REGISTER arrived."""
    source_host: str
    source_port: int
    """Where the REGISTER came from; requests go there when the phone is behind NAT."""
    behind_nat: bool
    """True when the source address differs from the Contact's host."""
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class Credentials:
    """What digest authentication needs to know about an extension."""

    number: str
    password: str
    name: str = ""
    """The extension's display name: the caller ID name of its calls."""
    voicemail: bool = False
    """Calls to it that are busy or not answered go to its mailbox."""
    ring_seconds: float | None = None
    """How long its phones ring before the call fails (or goes to the mailbox); None: the
    system's ring timeout."""
    forwarding: Forwarding = NO_FORWARDING
    """Its call forwarding and do-not-disturb."""


@dataclass(frozen=True, slots=True)
class BlockedAddress:
    """An address refused for failing authentication too often."""

    address: str
    blocked_until: float
    """Wall-clock time (Unix seconds) when the block ends."""
    failures: int
    reason: str


class ExtensionDirectory(Protocol):
    """Looks up extensions' credentials."""

    async def credentials(self, number: str) -> Credentials | None:
        """The credentials of ``number``, or None if there is no such extension."""
        ...


class BindingStore(Protocol):
    """Keeps registrations across restarts."""

    async def load_bindings(self) -> list[Binding]:
        """Every stored binding (lapsed ones included; the registrar drops them)."""
        ...

    async def save_bindings(self, upserts: list[Binding], deletes: list[tuple[str, str]]) -> None:
        """Insert or replace ``upserts`` and delete ``(number, contact)`` pairs, in one commit."""
        ...


class BlockStore(Protocol):
    """Keeps blocked addresses so that ``ringfort status`` and a restart see them."""

    async def save_block(self, block: BlockedAddress) -> None:
        """Record (or extend) a block."""
        ...

    async def remove_block(self, address: str) -> None:
        """Forget a block that ended or was lifted."""
        ...

    async def load_blocks(self) -> list[BlockedAddress]:
        """Every stored block."""
        ...


class DialPlan(Protocol):
    """Says where a dialled number that is not an extension goes."""

    async def resolve(self, number: str) -> Destination | None:
        """The menu or time condition ``number`` belongs to, or None if it is nobody's."""
        ...


class RecordingRules(Protocol):
    """Says which calls are recorded from their start (the ``*1`` key aside)."""

    async def wanted(self, src: str, dst: str) -> bool:
        """Whether a call from extension ``src`` to the number ``dst`` is to be recorded."""
        ...


class MusicSource(Protocol):
    """Supplies the music on hold (``ringfort.media.moh.MusicOnHold`` is one)."""

    async def clips(self) -> Sequence[AudioClip]:
        """The music to loop, in order; empty when there is none, and the caller hears silence."""
        ...
