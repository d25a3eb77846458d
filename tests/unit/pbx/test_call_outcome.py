"""What the caller hears when no phone of the callee answers, and how the CDR records it."""

from __future__ import annotations

import pytest

from ringfort.disposition import Disposition, HangupBy
from ringfort.pbx.call import _MOVES, TIMED_OUT, CallState, failure_outcome


@pytest.mark.parametrize(
    ("statuses", "status", "disposition", "hangup_by"),
    [
        ([486], 486, Disposition.BUSY, HangupBy.CALLEE),
        ([600], 486, Disposition.BUSY, HangupBy.CALLEE),
        ([603], 603, Disposition.BUSY, HangupBy.CALLEE),
        ([480], 480, Disposition.NO_ANSWER, HangupBy.CALLEE),
        ([TIMED_OUT], 480, Disposition.NO_ANSWER, HangupBy.SYSTEM),
        ([488], 488, Disposition.FAILED, HangupBy.SYSTEM),
        ([503], 480, Disposition.FAILED, HangupBy.SYSTEM),
        ([404], 480, Disposition.FAILED, HangupBy.SYSTEM),
    ],
)
def test_single_phone_failures_map_to_caller_status_and_disposition(
    statuses: list[int], status: int, disposition: Disposition, hangup_by: HangupBy
) -> None:
    outcome = failure_outcome(statuses)
    assert (outcome.status, outcome.disposition, outcome.hangup_by) == (
        status,
        disposition,
        hangup_by,
    )


def test_busy_phone_wins_over_one_that_did_not_answer() -> None:
    assert failure_outcome([TIMED_OUT, 486, 480]).status == 486


def test_decline_everywhere_wins_over_busy() -> None:
    # RFC 3261 §16.7: a 6xx is a global answer.
    assert failure_outcome([486, 603]).status == 603


def test_a_phone_that_said_unavailable_wins_over_silence() -> None:
    outcome = failure_outcome([TIMED_OUT, 480])
    assert outcome.hangup_by is HangupBy.CALLEE


def test_callee_503_is_never_passed_to_the_caller() -> None:
    assert failure_outcome([503, 500]).status != 503


def test_an_ended_call_goes_nowhere_and_an_answered_one_only_ends() -> None:
    assert not _MOVES[CallState.ENDED]
    assert _MOVES[CallState.ANSWERED] == {CallState.ENDED}
    assert CallState.RINGING not in _MOVES[CallState.ANSWERED]
