"""ParseMemo: parsed values kept by their text, in two bounded generations."""

from __future__ import annotations

import pytest

from ringfort.parse_memo import ParseMemo


def test_the_parse_memo_keeps_two_generations_of_values() -> None:
    parsed: list[str] = []

    def parse(text: str) -> list[str]:
        parsed.append(text)
        return [text]

    memo: ParseMemo[str, list[str]] = ParseMemo(parse, size=2)
    assert memo("a") is memo("a")
    memo("b")
    memo("c")  # the newer generation was full: "a" and "b" are the older one now
    memo("a")  # still known, and kept in the newer generation again
    assert parsed == ["a", "b", "c"]
    memo("d")
    memo("e")
    memo("b")  # two generations later "b" is gone and is parsed again
    assert parsed == ["a", "b", "c", "d", "e", "b"]


def test_text_that_does_not_parse_is_not_kept() -> None:
    calls: list[str] = []

    def parse(text: str) -> int:
        calls.append(text)
        return int(text)

    memo: ParseMemo[str, int] = ParseMemo(parse)
    for _ in range(2):
        with pytest.raises(ValueError, match="invalid literal"):
            memo("x")
    assert calls == ["x", "x"]
