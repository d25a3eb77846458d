"""The location service: where each extension's phones can be reached now.

Bindings live in memory for speed (every call looks them up) and are written
behind to the store in batches, so a restart finds them again.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable

from ringfort.pbx.ports import Binding
from ringfort.sip.address import Peer
from ringfort.sip.uri import URI


class LocationService:
    """Current bindings per extension number."""

    def __init__(self) -> None:
        self._by_number: dict[str, dict[str, Binding]] = {}

    def restore(self, bindings: Iterable[Binding], now: float) -> list[Binding]:
        """Load stored bindings after a restart; returns the lapsed ones that were skipped."""
        lapsed = []
        for binding in bindings:
            if binding.expires_at <= now:
                lapsed.append(binding)
            else:
                self._by_number.setdefault(binding.number, {})[binding.contact] = binding
        return lapsed

    def bindings(self, number: str, now: float) -> list[Binding]:
        """The live bindings of ``number``, most recently refreshed last."""
        current = self._by_number.get(number)
        if not current:
            return []
        return [b for b in current.values() if b.expires_at > now]

    def get(self, number: str, contact: str) -> Binding | None:
        """The binding of ``number`` for exactly this Contact URI, live or not."""
        return self._by_number.get(number, {}).get(contact)

    def put(self, binding: Binding) -> None:
        """Add or refresh a binding."""
        current = self._by_number.setdefault(binding.number, {})
        # Re-insert so dict order stays "least recently refreshed first" for eviction.
        current.pop(binding.contact, None)
        current[binding.contact] = binding

    def remove(self, number: str, contact: str) -> Binding | None:
        """Drop one binding; returns it if it existed."""
        current = self._by_number.get(number)
        if current is None:
            return None
        binding = current.pop(contact, None)
        if not current:
            del self._by_number[number]
        return binding

    def expire(self, now: float) -> list[Binding]:
        """Drop and return every binding that has lapsed."""
        lapsed: list[Binding] = []
        for number in list(self._by_number):
            current = self._by_number[number]
            for contact, binding in list(current.items()):
                if binding.expires_at <= now:
                    lapsed.append(binding)
                    del current[contact]
            if not current:
                del self._by_number[number]
        return lapsed

    def all(self, now: float) -> list[Binding]:
        """Every live binding."""
        return [
            b
            for current in self._by_number.values()
            for b in current.values()
            if b.expires_at > now
        ]

    def count(self) -> int:
        """How many bindings are held (live or not yet swept)."""
        return sum(len(current) for current in self._by_number.values())


def is_behind_nat(contact: URI, source: Peer) -> bool:
    """Whether requests to this contact must go to where the REGISTER came from.

    A Contact naming another IP address than the packet's source (a private
    address behind NAT, or a hostname we would have to resolve) cannot be
    trusted; when they match, the phone is reachable as it says.
    """
    if contact.host == source.host:
        return False  # the common case, without parsing addresses
    try:
        contact_ip = ipaddress.ip_address(contact.host)
    except ValueError:
        return True
    try:
        return contact_ip != ipaddress.ip_address(source.host)
    except ValueError:
        return True


def target_of(binding: Binding) -> Peer:
    """Where to send a request for ``binding`` (RFC 3261 §8.1.2, RFC 5626 for NAT)."""
    if binding.behind_nat or binding.transport == "TCP":
        # Behind NAT (or on a TCP flow the phone opened) only the source
        # address reaches it; for TCP the transport reuses the open
        # connection from that address and port.
        return Peer(binding.transport, binding.source_host, binding.source_port)
    return contact_target(binding)


def contact_target(binding: Binding) -> Peer:
    """The address the binding's Contact URI names itself (RFC 3263 without DNS)."""
    return _contact_peer(binding.contact)


@functools.lru_cache(maxsize=1024)
def _contact_peer(contact_text: str) -> Peer:
    # Kept by text: every call to a phone reads the same Contact of its binding.
    contact = URI.parse(contact_text)
    transport = contact.transport.upper()
    port = contact.port or (5061 if contact.scheme == "sips" else 5060)
    return Peer(transport if transport in ("UDP", "TCP") else "UDP", contact.host, port)


def reachable_peer(binding: Binding, flow_open: Callable[[Peer], bool]) -> Peer | None:
    """Where a phone can be reached now, or None if it cannot until it registers again.

    ``flow_open`` says whether a connection (or NAT flow) to a peer is open.
    """
    peer = target_of(binding)
    if flow_open(peer):
        return peer
    if binding.behind_nat:
        # Its TCP connection is gone and NAT keeps us from opening one (RFC 5626 §4.4).
        return None
    # It registered over TCP from where it listens: a new connection reaches it.
    return contact_target(binding)
