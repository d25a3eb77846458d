"""What a REFER asks for: the Refer-To of a transfer (RFC 3515) and its Replaces (RFC 3891).

A blind transfer names a number; an attended transfer names, in the Refer-To
URI's ``Replaces`` header, the other call of the transferring phone, whose far
party the transferee is to be joined to. This module only reads those values; the
B2BUA acts on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from ringfort.errors import RemoteProtocolError
from ringfort.sip.dialog import DialogKey
from ringfort.sip.headers import NameAddr

__all__ = ["ReferTo", "Replaces", "parse_refer_to", "parse_replaces"]


@dataclass(frozen=True, slots=True)
class Replaces:
    """A dialog named by Call-ID and its two tags (RFC 3891 §6.1)."""

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False

    def names(self, key: DialogKey) -> bool:
        """Whether ``key`` (Call-ID, local tag, remote tag at either end) is this dialog.

        The tags are compared as a pair in either order: the transferring phone writes
        them from the target's point of view (RFC 3891 §3), phones in the field do not
        all agree on which that is, and a Call-ID with both tags is unique anyway.
        """
        call_id, local, remote = key
        return call_id == self.call_id and sorted((local, remote)) == sorted(
            (self.to_tag, self.from_tag)
        )


@dataclass(frozen=True, slots=True)
class ReferTo:
    """Where a REFER sends the call."""

    number: str | None
    """The number in the URI's user part (digits, a leading ``+`` dropped), if it has one."""
    replaces: Replaces | None = None
    """For an attended transfer: the call whose far party takes the transferee."""


def parse_refer_to(value: str | None) -> ReferTo | None:
    """The target of a Refer-To header; None when it names neither a number nor a call.

    A Replaces that does not parse makes the whole header unusable (None): acting on
    the number alone would turn a failed attended transfer into a blind one.
    """
    if not value:
        return None
    try:
        uri = NameAddr.parse(_escape_header_at(value)).uri
    except RemoteProtocolError:
        return None
    user = (uri.unescaped_user or "").lstrip("+")
    number = user if user.isdigit() else None
    raw = next((v for name, v in uri.headers.items() if name.lower() == "replaces"), None)
    if raw is None:
        return None if number is None else ReferTo(number)
    replaces = parse_replaces(unquote(raw))
    return None if replaces is None else ReferTo(number, replaces)


def parse_replaces(value: str) -> Replaces | None:
    """A Replaces value, ``callid;to-tag=...;from-tag=...[;early-only]``; None if malformed."""
    call_id, *params = (part.strip() for part in value.split(";"))
    tags: dict[str, str] = {}
    early_only = False
    for param in params:
        name, sep, text = param.partition("=")
        name = name.strip().lower()
        if name == "early-only" and not sep:
            early_only = True
        elif name in ("to-tag", "from-tag") and sep and text.strip():
            tags[name] = text.strip()
    if not call_id or len(tags) != 2:
        return None
    return Replaces(call_id, tags["to-tag"], tags["from-tag"], early_only)


def _escape_header_at(value: str) -> str:
    """Escape an "@" in the URI's headers part, where phones put a Replaces' Call-ID
    (``abc@host``) unescaped although RFC 3261 §19.1.1 wants ``%40``: read strictly, the
    URI would not parse and the transfer would fail for a spelling."""
    query = value.find("?")
    if query < 0 or "@" not in value[query:]:
        return value
    return value[:query] + value[query:].replace("@", "%40")
