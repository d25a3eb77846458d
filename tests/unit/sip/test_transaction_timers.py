"""Transaction timer values (RFC 3261 Table 4, RFC 6026)."""

from __future__ import annotations

import dataclasses

import pytest

from ringfort.sip.timers import DEFAULT_TIMERS, T1, T2, T4, TRYING_DELAY, TimerValues


def test_defaults_are_the_rfc_3261_values() -> None:
    assert (T1, T2, T4) == (0.5, 4.0, 5.0)
    assert TimerValues() == TimerValues(0.5, 4.0, 5.0) == DEFAULT_TIMERS
    assert TRYING_DELAY == 0.2  # RFC 3261 §17.2.1


def test_derived_timers_on_an_unreliable_transport_follow_table_4() -> None:
    timers = TimerValues()
    assert timers.timer_a == 0.5
    assert timers.timer_b == 32.0
    assert timers.timer_d(reliable=False) == 32.0
    assert timers.timer_e == 0.5
    assert timers.timer_f == 32.0
    assert timers.timer_g == 0.5
    assert timers.timer_h == 32.0
    assert timers.timer_i(reliable=False) == 5.0
    assert timers.timer_j(reliable=False) == 32.0
    assert timers.timer_k(reliable=False) == 5.0
    # RFC 6026 §7.1, §7.2
    assert timers.timer_l == 32.0
    assert timers.timer_m == 32.0


def test_wait_timers_are_zero_on_a_reliable_transport() -> None:
    timers = TimerValues()
    assert timers.timer_d(reliable=True) == 0.0
    assert timers.timer_i(reliable=True) == 0.0
    assert timers.timer_j(reliable=True) == 0.0
    assert timers.timer_k(reliable=True) == 0.0


def test_backoff_doubles_up_to_t2() -> None:
    timers = TimerValues()
    intervals = [timers.timer_e]
    for _ in range(6):
        intervals.append(timers.backoff(intervals[-1]))
    assert intervals == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_a_larger_t1_scales_every_derived_timer() -> None:
    timers = TimerValues(t1=1.0, t2=8.0)
    assert timers.timer_b == timers.timer_f == timers.timer_h == 64.0
    assert timers.timer_l == timers.timer_m == timers.timer_j(reliable=False) == 64.0
    # Timer D is "at least 32 s" and must outlast the server's Timer H.
    assert timers.timer_d(reliable=False) == 64.0
    assert timers.backoff(4.0) == 8.0


def test_timer_values_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        TimerValues().t1 = 1.0  # type: ignore[misc]
