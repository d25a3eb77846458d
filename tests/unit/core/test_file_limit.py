"""The open-file limit: raised at start, and what kept port pairs may use of it."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap

import pytest

from ringfort.file_limit import (
    SPARE_DESCRIPTORS,
    check_open_file_limit,
    media_pairs_within,
)


def test_media_gets_what_the_spare_files_leave_two_files_a_pair() -> None:
    assert media_pairs_within(SPARE_DESCRIPTORS + 61) == 30
    assert media_pairs_within(SPARE_DESCRIPTORS) == 0
    assert media_pairs_within(100) == 0


def test_a_limit_that_carries_max_calls_draws_no_warning() -> None:
    assert check_open_file_limit(SPARE_DESCRIPTORS + 4000, max_calls=1000, port_pairs=5000) is None


def test_a_port_range_smaller_than_max_calls_needs_is_all_that_counts() -> None:
    # 100 pairs carry 50 calls whatever max_calls says: 200 files.
    assert check_open_file_limit(SPARE_DESCRIPTORS + 200, max_calls=1000, port_pairs=100) is None
    assert check_open_file_limit(SPARE_DESCRIPTORS + 199, max_calls=1000, port_pairs=100)


def test_a_short_limit_says_how_many_calls_fit_and_what_to_raise() -> None:
    message = check_open_file_limit(2048, max_calls=1000, port_pairs=5000)
    assert message is not None
    assert "(2048)" in message
    assert "5024" in message
    assert "about 256" in message
    assert "LimitNOFILE=" in message


@pytest.mark.skipif(
    resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 4096, reason="hard limit too low to show"
)
def test_the_soft_limit_is_raised_to_the_hard_one() -> None:
    # In a child process: the test run's own limit stays as it was.
    script = textwrap.dedent(
        """
        import resource
        from ringfort.file_limit import raise_open_file_limit
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        print(raise_open_file_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    returned, soft, hard = (int(field) for field in result.stdout.split())
    assert soft == returned
    assert soft == min(hard, 1 << 20)
    assert soft > 1024
