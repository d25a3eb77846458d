"""Numbers and message times as the prompts that say them."""

from __future__ import annotations

from datetime import datetime

import pytest

from ringfort.apps.speech import number_words, when_words
from ringfort.media.prompts import SHIPPED_PROMPTS, PromptLibrary


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (0, ["digits/0"]),
        (7, ["digits/7"]),
        (10, ["numbers/10"]),
        (19, ["numbers/19"]),
        (20, ["numbers/20"]),
        (42, ["numbers/40", "digits/2"]),
        (100, ["digits/1", "numbers/hundred"]),
        (305, ["digits/3", "numbers/hundred", "digits/5"]),
        (999, ["digits/9", "numbers/hundred", "numbers/90", "digits/9"]),
        (1234, ["digits/1", "digits/2", "digits/3", "digits/4"]),
    ],
)
def test_numbers_are_said_as_words(number: int, words: list[str]) -> None:
    assert number_words(number) == words


NOW = datetime(2026, 12, 2, 18, 30)  # a Wednesday


@pytest.mark.parametrize(
    ("when", "words"),
    [
        (datetime(2026, 12, 2, 15, 5), ["today", "at", "digits/3", "oh", "digits/5", "p-m"]),
        (datetime(2026, 12, 2, 0, 0), ["today", "at", "numbers/12", "o-clock", "a-m"]),
        (datetime(2026, 12, 1, 9, 45),
         ["yesterday", "at", "digits/9", "numbers/40", "digits/5", "a-m"]),
        (datetime(2026, 11, 28, 12, 30), ["days/5", "at", "numbers/12", "numbers/30", "p-m"]),
        (datetime(2026, 11, 22, 11, 11),
         ["months/11", "numbers/20", "digits/2", "at", "numbers/11", "numbers/11", "a-m"]),
    ],
)  # fmt: skip
def test_message_times_are_said_relative_to_now(when: datetime, words: list[str]) -> None:
    assert when_words(when, NOW) == words


def test_every_word_said_is_a_shipped_prompt() -> None:
    library = PromptLibrary([SHIPPED_PROMPTS])
    said = {word for number in range(1000) for word in number_words(number)}
    for day in range(1, 32):
        said.update(when_words(datetime(2026, 1, day, day % 24, day), datetime(2026, 3, 1)))
        said.update(when_words(datetime(2026, 2, 20 + day % 7, 13, 0), datetime(2026, 2, 27)))
    said.update(f"months/{month}" for month in range(1, 13))
    missing = sorted(word for word in said if not library.has(word))
    assert missing == []
