"""The process's open-file limit, which bounds how many calls it can carry.

Every call holds four media sockets (RTP and RTCP on each leg), so the 1,024 files a
service may open by default on Debian run out at about 250 calls: ports then fail to
bind and calls are refused with 503.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)

SPARE_DESCRIPTORS = 1024
"""Descriptors left for everything but media: SIP over TCP, HTTP, the database, files."""

_CEILING = 1 << 20
"""Where an unlimited hard limit is capped: Linux refuses more (``fs.nr_open``)."""


def open_file_limit() -> int:
    """The soft limit on open files now (an unlimited one counts as the ceiling)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return _CEILING if soft == resource.RLIM_INFINITY else min(soft, _CEILING)


def raise_open_file_limit() -> int:
    """Raise the soft limit on open files to the hard one; the soft limit afterwards.

    Servers do this at start (the hard limit is what the administrator allows, the
    soft one only a default); a limit that cannot be raised is logged and kept.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _CEILING if hard == resource.RLIM_INFINITY else min(hard, _CEILING)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as error:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, error)
    return open_file_limit()


def media_pairs_within(limit: int) -> int:
    """RTP/RTCP port pairs (two files each) that may be open within ``limit`` open files."""
    return max(0, (limit - SPARE_DESCRIPTORS) // 2)


def check_open_file_limit(limit: int, *, max_calls: int, port_pairs: int) -> str | None:
    """What to tell the administrator when ``limit`` cannot carry ``max_calls`` calls
    (each two port pairs, of the ``port_pairs`` the RTP port range holds)."""
    needed = SPARE_DESCRIPTORS + 2 * min(port_pairs, 2 * max_calls)
    if limit >= needed:
        return None
    carried = media_pairs_within(limit) // 2
    return (
        f"the open-file limit ({limit}) is short of the {needed} that calls.max_calls ="
        f" {max_calls} needs: calls past about {carried} will be refused (503). Raise the"
        " hard limit (LimitNOFILE= in the service's systemd unit, or ulimit -Hn), or lower"
        " calls.max_calls."
    )
