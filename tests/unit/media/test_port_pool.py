"""PortPool bookkeeping (RFC 3550 §11 pairs), without binding sockets."""

from __future__ import annotations

import pytest

from ringfort.transport.rtp import PortPool, PortsExhaustedError


def test_pool_hands_out_even_ports_with_rtcp_inside_range() -> None:
    pool = PortPool(20001, 20010)
    ports = [pool.reserve() for _ in range(pool.capacity)]
    assert ports == [20002, 20004, 20006, 20008]
    assert all(port % 2 == 0 and port + 1 <= 20010 for port in ports)


def test_odd_high_end_keeps_the_last_pair() -> None:
    pool = PortPool(20000, 20009)
    assert pool.capacity == 5
    assert max(pool.reserve() for _ in range(5)) == 20008


@pytest.mark.parametrize(("low", "high"), [(20000, 20000), (20001, 20002), (20010, 20000), (0, 10)])
def test_range_without_a_whole_pair_is_rejected(low: int, high: int) -> None:
    with pytest.raises(ValueError, match="port range"):
        PortPool(low, high)


def test_pool_never_hands_out_a_reserved_pair_twice() -> None:
    pool = PortPool(20000, 20007)
    first = [pool.reserve() for _ in range(4)]
    assert len(set(first)) == 4
    assert pool.in_use == 4
    with pytest.raises(PortsExhaustedError):
        pool.reserve()


def test_released_pair_is_reused_only_after_the_others() -> None:
    pool = PortPool(20000, 20005)
    a = pool.reserve()
    pool.release(a)
    b = pool.reserve()
    assert b != a
    assert pool.reserve() == 20004
    assert pool.reserve() == a


def test_release_returns_the_pair_and_counts_down() -> None:
    pool = PortPool(20000, 20003)
    port = pool.reserve()
    assert pool.is_reserved(port)
    pool.release(port)
    assert pool.in_use == 0
    assert not pool.is_reserved(port)


def test_releasing_a_pair_not_handed_out_is_an_error() -> None:
    pool = PortPool(20000, 20003)
    port = pool.reserve()
    pool.release(port)
    with pytest.raises(ValueError, match="not reserved"):
        pool.release(port)


def test_many_reserve_release_cycles_leave_nothing_in_use() -> None:
    pool = PortPool(20000, 20019)
    for _ in range(50):
        ports = [pool.reserve(), pool.reserve()]
        for port in ports:
            pool.release(port)
    assert pool.in_use == 0
