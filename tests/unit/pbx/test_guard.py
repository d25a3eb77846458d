"""AuthGuard: blocking addresses that fail authentication too often."""

from __future__ import annotations

import pytest

from ringfort.errors import ValidationError
from ringfort.pbx.guard import AuthGuard
from ringfort.pbx.ports import BlockedAddress

T0 = 1_700_000_000.0
ATTACKER = "203.0.113.7"
PHONE = "198.51.100.20"


def _guard(**kwargs: object) -> AuthGuard:
    settings: dict[str, object] = {"limit": 5, "window": 60.0, "block_seconds": 3600.0}
    settings.update(kwargs)
    return AuthGuard(**settings)  # type: ignore[arg-type]


def _fail(guard: AuthGuard, address: str, times: list[float]) -> list[BlockedAddress | None]:
    return [guard.record_failure(address, when, "bad password") for when in times]


def test_limit_failures_within_the_window_block_the_address() -> None:
    guard = _guard()
    results = _fail(guard, ATTACKER, [T0 + i for i in range(5)])
    assert results[:4] == [None] * 4
    assert results[4] == BlockedAddress(
        address=ATTACKER, blocked_until=T0 + 4 + 3600, failures=5, reason="bad password"
    )
    assert guard.is_blocked(ATTACKER, T0 + 5)


def test_failures_below_the_limit_do_not_block() -> None:
    guard = _guard()
    assert _fail(guard, ATTACKER, [T0 + i for i in range(4)]) == [None] * 4
    assert not guard.is_blocked(ATTACKER, T0 + 5)


def test_failures_spread_over_more_than_the_window_do_not_block() -> None:
    guard = _guard()
    # one failure every 16 s: never 5 within 60 s
    results = _fail(guard, ATTACKER, [T0 + 16 * i for i in range(50)])
    assert results == [None] * 50
    assert not guard.is_blocked(ATTACKER, T0 + 16 * 50)


def test_window_slides() -> None:
    guard = _guard()
    # four quick failures, then a lull: the fifth is not within 60 s of the first
    assert _fail(guard, ATTACKER, [T0, T0 + 1, T0 + 2, T0 + 3, T0 + 61]) == [None] * 5
    # the early ones drop out one by one; five inside one window are needed again
    assert _fail(guard, ATTACKER, [T0 + 62, T0 + 63, T0 + 64]) == [None] * 3
    assert guard.record_failure(ATTACKER, T0 + 65, "x") is not None


def test_block_expires() -> None:
    guard = _guard(block_seconds=600.0)
    (*_, block) = _fail(guard, ATTACKER, [T0] * 5)
    assert block is not None
    assert guard.is_blocked(ATTACKER, T0 + 599.9)
    assert not guard.is_blocked(ATTACKER, T0 + 600.0)
    assert guard.expire(T0 + 599.9) == []
    assert guard.expire(T0 + 600.0) == [ATTACKER]
    assert guard.expire(T0 + 700.0) == []
    assert guard.blocked(T0 + 700.0) == []


def test_failures_after_a_block_ends_start_from_zero() -> None:
    guard = _guard(block_seconds=600.0)
    _fail(guard, ATTACKER, [T0] * 5)
    guard.expire(T0 + 600)
    assert _fail(guard, ATTACKER, [T0 + 601] * 4) == [None] * 4
    assert guard.record_failure(ATTACKER, T0 + 601, "again") is not None


def test_failures_while_blocked_are_ignored() -> None:
    guard = _guard()
    _fail(guard, ATTACKER, [T0] * 5)
    assert _fail(guard, ATTACKER, [T0 + 1] * 20) == [None] * 20
    assert guard.blocked(T0 + 2)[0].blocked_until == T0 + 3600


@pytest.mark.parametrize(
    ("trusted", "address"),
    [
        (["10.0.0.5"], "10.0.0.5"),
        (["10.0.0.0/8"], "10.200.3.4"),
        (["2001:db8::/32"], "2001:db8::1"),
        (["192.0.2.0/24"], "::ffff:192.0.2.9"),
    ],
)
def test_trusted_addresses_are_never_blocked(trusted: list[str], address: str) -> None:
    guard = _guard(trusted=trusted)
    assert _fail(guard, address, [T0] * 100) == [None] * 100
    assert not guard.is_blocked(address, T0)
    assert guard.is_trusted(address)


def test_trust_covers_only_its_network() -> None:
    guard = _guard(trusted=["10.0.0.0/8"])
    assert not guard.is_trusted("11.0.0.1")
    assert not guard.is_trusted("not an address")
    assert _fail(guard, "11.0.0.1", [T0] * 5)[-1] is not None


def test_bad_trusted_entry_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as caught:
        _guard(trusted=["10.0.0.0/33"])
    assert caught.value.field == "trusted"


def test_other_addresses_are_unaffected() -> None:
    guard = _guard()
    _fail(guard, ATTACKER, [T0] * 5)
    assert not guard.is_blocked(PHONE, T0)
    assert _fail(guard, PHONE, [T0] * 4) == [None] * 4
    assert not guard.is_blocked(PHONE, T0)


def test_success_clears_the_failure_history() -> None:
    guard = _guard()
    _fail(guard, PHONE, [T0] * 4)
    guard.record_success(PHONE)
    assert _fail(guard, PHONE, [T0 + 1] * 4) == [None] * 4
    assert not guard.is_blocked(PHONE, T0 + 1)


def test_blocked_lists_blocks_in_force_soonest_first() -> None:
    guard = _guard(limit=1)
    guard.record_failure("192.0.2.2", T0 + 10, "r")
    guard.record_failure("192.0.2.1", T0, "r")
    assert [b.address for b in guard.blocked(T0 + 10)] == ["192.0.2.1", "192.0.2.2"]
    assert [b.address for b in guard.blocked(T0 + 3605)] == ["192.0.2.2"]


def test_unblock_lifts_a_block() -> None:
    guard = _guard()
    _fail(guard, ATTACKER, [T0] * 5)
    assert guard.unblock(ATTACKER) is True
    assert not guard.is_blocked(ATTACKER, T0)
    assert guard.unblock(ATTACKER) is False
    # the lifted block does not come back from expire()
    assert guard.expire(T0 + 10_000) == []
    # and the address starts with a clean history
    assert _fail(guard, ATTACKER, [T0 + 1] * 4) == [None] * 4


def test_restore_brings_back_blocks_after_a_restart() -> None:
    guard = _guard()
    stored = [
        BlockedAddress(address=ATTACKER, blocked_until=T0 + 100, failures=5, reason="r"),
        BlockedAddress(address="192.0.2.99", blocked_until=T0 - 1, failures=5, reason="r"),
    ]
    assert guard.restore(stored) == []
    assert guard.is_blocked(ATTACKER, T0)
    assert not guard.is_blocked("192.0.2.99", T0)
    # an ended block is reported once so the caller can delete it from the store
    assert guard.expire(T0) == ["192.0.2.99"]
    assert guard.expire(T0 + 100) == [ATTACKER]


def test_restore_skips_trusted_addresses_and_reports_them() -> None:
    guard = _guard(trusted=["10.0.0.0/8"])
    stored = [BlockedAddress(address="10.1.1.1", blocked_until=T0 + 100, failures=5, reason="r")]
    assert guard.restore(stored) == ["10.1.1.1"]
    assert not guard.is_blocked("10.1.1.1", T0)


def test_restore_keeps_the_longer_block() -> None:
    guard = _guard()
    (*_, block) = _fail(guard, ATTACKER, [T0] * 5)
    assert block is not None
    shorter = BlockedAddress(address=ATTACKER, blocked_until=T0 + 10, failures=5, reason="r")
    guard.restore([shorter])
    assert guard.is_blocked(ATTACKER, T0 + 11)


def test_failure_memory_is_capped_under_a_wide_scan() -> None:
    guard = _guard(max_tracked=10_000)
    for i in range(100_000):
        address = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        assert guard.record_failure(address, T0 + i * 0.0001, "scan") is None
    assert len(guard._failures) == 10_000
    assert guard.blocked(T0 + 10) == []


def test_default_cap_holds_for_100k_distinct_addresses() -> None:
    guard = _guard()
    for i in range(150_000):
        guard.record_failure(f"2001:db8::{i:x}", T0 + i * 0.0001, "scan")
    assert len(guard._failures) == 100_000


def test_old_failure_windows_are_pruned() -> None:
    guard = _guard()
    for i in range(1000):
        guard.record_failure(f"192.0.2.{i % 250}-{i}", T0, "scan")
    guard.expire(T0 + 61)
    assert len(guard._failures) == 0


def test_pruning_happens_as_failures_arrive() -> None:
    guard = _guard()
    for i in range(1000):
        guard.record_failure(f"a{i}", T0, "scan")
    guard.record_failure("late", T0 + 61, "scan")
    assert list(guard._failures) == ["late"]


def test_is_blocked_is_a_dictionary_lookup() -> None:
    guard = _guard(limit=1)
    for i in range(10_000):
        guard.record_failure(f"a{i}", T0, "r")
    assert guard.is_blocked("a9999", T0)
    assert not guard.is_blocked("b", T0)


@pytest.mark.parametrize(
    "settings",
    [{"limit": 0}, {"window": 0.0}, {"block_seconds": -1.0}, {"max_tracked": 0}],
)
def test_nonsense_settings_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _guard(**settings)
