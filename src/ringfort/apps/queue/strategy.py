"""Which of a queue's agents to ring next: the strategies of Asterisk's app_queue, and penalties.

Pure: the queue hands in its members as they stand now and gets back whom to
ring for one attempt. Only members free to take a call (logged in, not paused,
not ringing, not on a call, past their wrap-up) are ever chosen, and only from
the lowest penalty among them: a member with a higher penalty rings only when
no member with a lower one is free (Asterisk's default, without the
``penaltymemberslimit`` exception).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Candidate", "Rotation", "Strategy", "choose"]


class Strategy(enum.StrEnum):
    """How a queue picks among its free members (the names app_queue uses)."""

    RINGALL = "ringall"
    """Every free member at once; the first to answer takes the call."""
    LEASTRECENT = "leastrecent"
    """The member whose last queue call ended longest ago (never: first)."""
    FEWESTCALLS = "fewestcalls"
    """The member who has taken the fewest calls from this queue."""
    RANDOM = "random"
    """Any free member, at random."""
    RRMEMORY = "rrmemory"
    """Round robin, carrying on after the member rung last time."""
    LINEAR = "linear"
    """In the members' configured order, from the top for every caller."""
    WRANDOM = "wrandom"
    """At random, weighted so that a lower penalty is likelier, across all penalties."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A member as the strategy needs to see it."""

    member: str
    """Who: the agent's id or the number rung."""
    penalty: int = 0
    """Lower rings first."""
    calls: int = 0
    """Calls taken from this queue (for ``fewestcalls``)."""
    last_call_ended: float | None = None
    """When the member's last call from this queue ended (monotonic; ``leastrecent``)."""
    free: bool = True
    """Logged in, not paused, not ringing or talking, past wrap-up."""


class Rotation:
    """What ``rrmemory`` remembers between callers: the member rung last."""

    def __init__(self) -> None:
        self.last: str | None = None


def choose(
    strategy: Strategy,
    members: Sequence[Candidate],
    *,
    rotation: Rotation | None = None,
    rng: random.Random | None = None,
    excluded: frozenset[str] = frozenset(),
) -> list[str]:
    """The members to ring for one attempt, in ``members``' configured order.

    ``excluded`` are members this caller already rang without an answer; they
    are passed over while anyone else is free (then tried again). Returns []
    when nobody is free. ``ringall`` returns every free member of the lowest
    penalty; the other strategies one member.
    """
    free = [member for member in members if member.free]
    if not free:
        return []
    fresh = [member for member in free if member.member not in excluded]
    pool = fresh or free
    pick = rng or random.Random()
    if strategy is Strategy.WRANDOM:
        # app_queue draws rand() % ((penalty + 1) * 1000) per member and takes the
        # lowest draw: every member has a chance, a lower penalty a better one.
        draws = [
            (pick.randrange((member.penalty + 1) * 1000), index)
            for index, member in enumerate(pool)
        ]
        return [pool[min(draws)[1]].member]
    lowest = min(member.penalty for member in pool)
    tier = [member for member in pool if member.penalty == lowest]
    if strategy is Strategy.RINGALL:
        return [member.member for member in tier]
    if strategy is Strategy.LINEAR:
        return [tier[0].member]
    if strategy is Strategy.RANDOM:
        return [pick.choice(tier).member]
    if strategy is Strategy.FEWESTCALLS:
        return [min(tier, key=lambda member: member.calls).member]
    if strategy is Strategy.LEASTRECENT:
        # Never having had a call counts as longest ago; ties keep configured order.
        return [min(tier, key=_ended_or_never).member]
    if strategy is Strategy.RRMEMORY:
        return [_after_last(tier, members, rotation)]
    raise ValueError(f"unknown strategy {strategy!r}")


def _ended_or_never(member: Candidate) -> float:
    return -1.0 if member.last_call_ended is None else member.last_call_ended


def _after_last(
    tier: Sequence[Candidate], members: Sequence[Candidate], rotation: Rotation | None
) -> str:
    """The first member of ``tier`` after the one rung last, in configured order (wrapping)."""
    order = [member.member for member in members]
    chosen = tier[0].member
    if rotation is not None and rotation.last in order:
        start = order.index(rotation.last)
        ranked = {name: (index - start - 1) % len(order) for index, name in enumerate(order)}
        chosen = min(tier, key=lambda member: ranked[member.member]).member
    if rotation is not None:
        rotation.last = chosen
    return chosen
