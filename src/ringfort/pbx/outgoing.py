"""How Ringfort signs the requests it sends itself: its Via and its Contact.

The call core, the message-waiting NOTIFYs and the keep-alives all send requests
from the address the SIP stack listens on (``sent_by``); each request gets a Via
with a fresh branch and ``rport`` (RFC 3581), and dialog requests a Contact
naming the transport they go over.
"""

from __future__ import annotations

from ringfort.sip.address import Peer
from ringfort.sip.headers import Via
from ringfort.sip.transaction import new_branch

__all__ = ["bracket", "our_contact", "our_via"]


def bracket(host: str) -> str:
    """``host`` as it goes into a URI: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def our_via(sent_by: tuple[str, int], peer: Peer) -> Via:
    """The Via of a new request from ``sent_by`` to ``peer`` (RFC 3261 §8.1.1.7)."""
    host, port = sent_by
    return Via("SIP/2.0", peer.transport, host, port, {"branch": new_branch(), "rport": None})


def our_contact(sent_by: tuple[str, int], peer: Peer) -> str:
    """Our Contact for a dialog with ``peer``, naming the transport unless it is UDP."""
    host, port = sent_by
    transport = "" if peer.transport == "UDP" else f";transport={peer.transport.lower()}"
    return f"<sip:{bracket(host)}:{port}{transport}>"
