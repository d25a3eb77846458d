"""Prompts: recorded phrases found by name and language, decoded once and kept ready to send."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from ringfort.errors import RemoteProtocolError, RingfortError
from ringfort.rtp.g711 import linear_to_alaw, linear_to_ulaw
from ringfort.rtp.wav import RATE, decode_wav

__all__ = [
    "FALLBACK_LANGUAGE",
    "SHIPPED_PROMPTS",
    "Clip",
    "PromptLibrary",
    "PromptNameError",
    "PromptNotFoundError",
    "load_file",
]

log = logging.getLogger(__name__)

SHIPPED_PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
"""The prompts installed with Ringfort: a folder per language, ``en`` complete."""
FALLBACK_LANGUAGE = "en"
"""Where a prompt missing in the caller's language is looked for last."""

# A name is words of letters, digits, '-' and '_' joined by '/': never empty parts, dots,
# backslashes or a leading '/', so it cannot leave the prompt folders.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*(?:/[A-Za-z0-9_][A-Za-z0-9_-]*)*")
_MAX_NAME = 200
# ISO 639 code with an optional region or script: en, ru, pt-br, en_GB, zh-Hant.
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?")


class PromptNotFoundError(RingfortError):
    """No playable file for a prompt in any folder searched; the message names them."""


class PromptNameError(PromptNotFoundError):
    """A prompt name or language that could not name a file in the prompt folders.

    A PromptNotFoundError too, so code that skips missing prompts skips these as well.
    """


@dataclass(frozen=True, slots=True)
class Clip:
    """A prompt ready to play: 8 kHz 16-bit PCM and its two G.711 encodings."""

    name: str
    """The prompt name (``digits/5``) or, from :func:`load_file`, the file's stem."""
    pcm: bytes = field(repr=False)
    """8 kHz, 16-bit little-endian, mono linear PCM."""
    ulaw: bytes = field(repr=False)
    """The same sound as PCMU octets."""
    alaw: bytes = field(repr=False)
    """The same sound as PCMA octets."""
    duration: float
    """Seconds."""


def load_file(path: Path, *, name: str | None = None) -> Clip:
    """Read and convert any WAV file Ringfort can decode.

    Blocking: converting takes about 0.1 s per minute of 8 kHz audio and over a second
    per 30 s of 44.1 kHz stereo, so call it for music on hold and other long files from
    an executor (``loop.run_in_executor(None, load_file, path)``).
    Raises PromptNotFoundError naming the file and what is wrong with it.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PromptNotFoundError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        pcm = decode_wav(data)
    except RemoteProtocolError as error:
        raise PromptNotFoundError(f"{path} is not a WAV file Ringfort can play: {error}") from None
    return Clip(
        name=path.stem if name is None else name,
        pcm=pcm,
        ulaw=linear_to_ulaw(pcm),
        alaw=linear_to_alaw(pcm),
        duration=len(pcm) / 2 / RATE,
    )


class PromptLibrary:
    """Finds prompts by name and language in ``search`` folders, each with a folder per language.

    The data directory's ``prompts/`` comes before the shipped set, so an operator's
    recording of ``prompts/en/welcome.wav`` replaces Ringfort's.  A prompt is looked
    for in the caller's language (``pt-br``), then its base language (``pt``), then
    English, in every folder at each step: a shipped prompt in the caller's language
    wins over an operator's English one.  A file that cannot be decoded is logged and
    passed over for the next.

    Files are read and converted on first use, synchronously, and kept: prompts are a
    few seconds each.  Load long files (music on hold) with :func:`load_file` in an
    executor instead.  After replacing a file, :meth:`forget` makes the next load read it.
    """

    def __init__(self, search: list[Path]) -> None:
        self._search = list(search)
        self._by_name: dict[tuple[str, str], Clip] = {}
        self._by_path: dict[Path, Clip] = {}

    @property
    def search(self) -> list[Path]:
        """The folders looked in, first match first."""
        return list(self._search)

    def load(self, name: str, language: str = FALLBACK_LANGUAGE) -> Clip:
        """The prompt ``name`` (``goodbye``, ``digits/5``) in ``language``; cached once read.

        Raises PromptNameError for a name that could not be a prompt (``..``, ``/etc``,
        a backslash), PromptNotFoundError listing every file tried when none is usable.
        """
        key = (name, language)
        cached = self._by_name.get(key)
        if cached is not None:
            return cached
        problems: list[str] = []
        for path in self._candidates(name, language):
            clip = self._by_path.get(path)
            if clip is None:
                if not path.is_file():
                    problems.append(f"{path} (no such file)")
                    continue
                try:
                    clip = load_file(path, name=name)
                except PromptNotFoundError as error:
                    log.warning("prompt %r: skipping %s", name, error)
                    problems.append(str(error))
                    continue
                self._by_path[path] = clip
            self._by_name[key] = clip
            return clip
        raise PromptNotFoundError(f"prompt {name!r} ({language}) not found: {'; '.join(problems)}")

    def has(self, name: str, language: str = FALLBACK_LANGUAGE) -> bool:
        """Whether a file for ``name`` exists in ``language`` or a language it falls back to."""
        return any(path.is_file() for path in self._candidates(name, language))

    def digits(self, number: str, language: str = FALLBACK_LANGUAGE) -> list[str]:
        """Prompt names that say ``number`` digit by digit (``"105"`` -> digits/1, 0, 5).

        Characters other than 0-9 (``+``, spaces, dashes) are not spoken.  ``language``
        is checked now and will matter for languages that group digits differently.
        """
        _check_language(language)
        return [f"digits/{digit}" for digit in number if "0" <= digit <= "9"]

    def forget(self) -> None:
        """Drop every cached clip, so changed files are read again on next use."""
        self._by_name.clear()
        self._by_path.clear()

    def _candidates(self, name: str, language: str) -> list[Path]:
        _check_name(name)
        _check_language(language)
        languages = [language]
        base = re.split(r"[-_]", language, maxsplit=1)[0]
        for fallback in (base, FALLBACK_LANGUAGE):
            if fallback not in languages:
                languages.append(fallback)
        return [folder / lang / f"{name}.wav" for lang in languages for folder in self._search]


def _check_name(name: str) -> None:
    if _NAME.fullmatch(name) and len(name) <= _MAX_NAME:
        return
    if ".." in name.split("/"):
        problem = "'..' may not appear in it"
    elif name.startswith("/") or re.match(r"[A-Za-z]:", name):
        problem = "it may not be an absolute path"
    elif "\\" in name:
        problem = "use '/' between its parts, not a backslash"
    elif not name:
        problem = "it is empty"
    elif len(name) > _MAX_NAME:
        problem = f"it is longer than {_MAX_NAME} characters"
    else:
        problem = "use letters, digits, '-' and '_', and '/' between parts (digits/5)"
    raise PromptNameError(f"{name!r} is not a prompt name: {problem}")


def _check_language(language: str) -> None:
    if not _LANGUAGE.fullmatch(language):
        raise PromptNameError(f"{language!r} is not a language code (en, ru, pt-br)")
