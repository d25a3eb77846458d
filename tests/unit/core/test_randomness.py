"""Protocol identifiers drawn from the OS's CSPRNG in batches."""

from __future__ import annotations

import os
import re
import threading
from collections import Counter

import pytest

from ringfort import randomness


def test_tokens_have_the_asked_length_and_do_not_repeat() -> None:
    tokens = [randomness.token_hex(12) for _ in range(5_000)]
    assert all(re.fullmatch(r"[0-9a-f]{24}", token) for token in tokens)
    # 5,000 tokens cross the 4 KB batch many times; a refill that re-used bytes or
    # an offset that did not move would repeat some.
    assert len(set(tokens)) == len(tokens)
    assert len(randomness.token_bytes(7)) == 7


def test_a_request_larger_than_a_batch_is_served_whole() -> None:
    big = randomness.token_bytes(10_000)
    assert len(big) == 10_000
    assert len(set(big)) > 200  # random bytes, not a filler


def test_randbelow_stays_in_range_and_reaches_every_value() -> None:
    seen = Counter(randomness.randbelow(6) for _ in range(6_000))
    assert set(seen) == set(range(6))
    # Uniform: each value near 1,000; a modulo bias or a dropped value would show.
    assert all(700 < count < 1_300 for count in seen.values())
    assert randomness.randbelow(1) == 0
    assert all(0 <= randomness.randbelow(2**62) < 2**62 for _ in range(1_000))


@pytest.mark.parametrize("bound", [0, -5])
def test_randbelow_needs_a_positive_bound(bound: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        randomness.randbelow(bound)


def test_threads_never_get_the_same_bytes() -> None:
    found: list[list[str]] = [[] for _ in range(4)]

    def draw(into: list[str]) -> None:
        for _ in range(2_000):
            into.append(randomness.token_hex(8))

    threads = [threading.Thread(target=draw, args=(into,)) for into in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [token for into in found for token in into]
    assert len(set(every)) == len(every) == 8_000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_repeat_its_parents_tokens() -> None:
    randomness.token_hex(1)  # the parent holds a batch it has begun to hand out
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(reader)
        os.write(writer, randomness.token_hex(16).encode())
        os._exit(0)
    os.close(writer)
    child = os.read(reader, 64).decode()
    os.close(reader)
    os.waitpid(pid, 0)
    parent = randomness.token_hex(16)
    # Without the reset both would take the same next 16 bytes of the same batch.
    assert len(child) == 32
    assert child != parent
