"""Queue strategies: whom each one rings, and how penalties and the caller's tries weigh in."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from ringfort.apps.queue.strategy import Candidate, Rotation, Strategy, choose

ALICE = Candidate("alice", penalty=0, calls=5, last_call_ended=100.0)
BOB = Candidate("bob", penalty=0, calls=2, last_call_ended=50.0)
CAROL = Candidate("carol", penalty=0, calls=9, last_call_ended=None)
DAVE = Candidate("dave", penalty=1, calls=0, last_call_ended=None)


@pytest.mark.parametrize("strategy", list(Strategy))
def test_nobody_free_means_nobody_rung(strategy: Strategy) -> None:
    busy = [Candidate("alice", free=False), Candidate("bob", free=False)]
    assert choose(strategy, busy) == []
    assert choose(strategy, []) == []


def test_ringall_rings_every_free_member_of_the_lowest_penalty() -> None:
    members = [ALICE, Candidate("bob", free=False), CAROL, DAVE]
    assert choose(Strategy.RINGALL, members) == ["alice", "carol"]


@pytest.mark.parametrize("strategy", [s for s in Strategy if s is not Strategy.WRANDOM])
def test_a_higher_penalty_rings_only_when_no_lower_one_is_free(strategy: Strategy) -> None:
    lower_busy = [Candidate("alice", free=False), Candidate("bob", free=False), DAVE]
    assert choose(strategy, lower_busy, rotation=Rotation()) == ["dave"]
    assert "dave" not in choose(strategy, [ALICE, BOB, DAVE], rotation=Rotation())


def test_linear_takes_the_first_free_member_in_configured_order() -> None:
    assert choose(Strategy.LINEAR, [Candidate("alice", free=False), BOB, CAROL]) == ["bob"]
    assert choose(Strategy.LINEAR, [ALICE, BOB, CAROL]) == ["alice"]


def test_fewestcalls_takes_the_member_with_fewest_calls() -> None:
    assert choose(Strategy.FEWESTCALLS, [ALICE, BOB, CAROL]) == ["bob"]


def test_leastrecent_prefers_a_member_never_called_then_the_oldest_call() -> None:
    assert choose(Strategy.LEASTRECENT, [ALICE, BOB, CAROL]) == ["carol"]
    assert choose(Strategy.LEASTRECENT, [ALICE, BOB]) == ["bob"]


def test_rrmemory_carries_on_after_the_member_rung_last() -> None:
    rotation = Rotation()
    members = [ALICE, BOB, CAROL]
    rung = [choose(Strategy.RRMEMORY, members, rotation=rotation)[0] for _ in range(4)]
    assert rung == ["alice", "bob", "carol", "alice"]
    # Bob busy: after alice comes carol, and the rotation goes on from her.
    with_bob_busy = [ALICE, Candidate("bob", free=False), CAROL]
    assert choose(Strategy.RRMEMORY, with_bob_busy, rotation=rotation) == ["carol"]
    assert choose(Strategy.RRMEMORY, members, rotation=rotation) == ["alice"]


def test_random_picks_every_free_member_of_the_tier_sometimes() -> None:
    rng = random.Random(7)
    seen = Counter(
        choose(Strategy.RANDOM, [ALICE, BOB, CAROL, DAVE], rng=rng)[0] for _ in range(300)
    )
    assert set(seen) == {"alice", "bob", "carol"}
    assert min(seen.values()) > 60


def test_wrandom_reaches_every_penalty_but_favours_the_lower() -> None:
    rng = random.Random(11)
    cheap, dear = Candidate("cheap", penalty=0), Candidate("dear", penalty=4)
    seen = Counter(choose(Strategy.WRANDOM, [cheap, dear], rng=rng)[0] for _ in range(2000))
    assert seen["cheap"] > seen["dear"] > 0


@pytest.mark.parametrize("strategy", list(Strategy))
def test_members_already_tried_by_this_caller_are_passed_over_while_others_are_free(
    strategy: Strategy,
) -> None:
    members = [ALICE, BOB]
    chosen = choose(strategy, members, rotation=Rotation(), excluded=frozenset({"alice"}))
    assert chosen == ["bob"]
    # Everyone tried: they are tried again rather than nobody.
    again = choose(strategy, members, rotation=Rotation(), excluded=frozenset({"alice", "bob"}))
    assert again
