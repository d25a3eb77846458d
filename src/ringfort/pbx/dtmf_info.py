"""DTMF carried in SIP INFO bodies, as phones send it when RTP events are not used."""

from __future__ import annotations

__all__ = ["DTMF_INFO_TYPES", "digits_of_info"]

_DIGITS = frozenset("0123456789*#ABCD")

DTMF_INFO_TYPES = frozenset({"application/dtmf-relay", "application/dtmf"})
"""The bodies understood: Cisco's ``Signal=5`` form and the bare digit form."""


def digits_of_info(content_type: str | None, body: bytes) -> str | None:
    """The digit an INFO carries, or None if its body is not DTMF.

    ``application/dtmf-relay`` has ``Signal=<digit>`` and ``Duration=<ms>`` lines (no
    RFC defines it; every phone that sends it agrees on this much). ``application/dtmf``
    is the digit alone. Event 10 and 11 stand for ``*`` and ``#`` in some phones' bodies.
    """
    kind = (content_type or "").partition(";")[0].strip().lower()
    if kind not in DTMF_INFO_TYPES:
        return None
    text = body.decode("ascii", "replace").strip()
    if kind == "application/dtmf-relay":
        for line in text.splitlines():
            name, _, value = line.partition("=")
            if name.strip().lower() == "signal":
                text = value.strip()
                break
        else:
            return None
    digit = {"10": "*", "11": "#"}.get(text, text.upper())
    return digit if digit in _DIGITS else None
