"""The prompt library: search order, language fallback, caching, name checks, the shipped set."""

from __future__ import annotations

import math
import re
import struct
from pathlib import Path

import pytest

from ringfort.media.prompts import (
    SHIPPED_PROMPTS,
    Clip,
    PromptLibrary,
    PromptNameError,
    PromptNotFoundError,
    load_file,
)
from ringfort.rtp.g711 import linear_to_alaw, linear_to_ulaw
from ringfort.rtp.wav import encode_wav

CONTRACT_PROMPTS = [
    *(f"digits/{digit}" for digit in range(10)),
    "welcome",
    "invalid",
    "no-input",
    "goodbye",
    "please-hold",
    "you-are-caller-number",
    "not-available",
    "enter-pin",
    "pin-incorrect",
    "logged-in",
    "logged-out",
    "vm-leave-message",
    "vm-no-messages",
    "vm-you-have",
    "vm-new-messages",
    "vm-old-messages",
    "queue-position",
    "queue-in-line",
    "queue-thank-you",
    "transferring",
    "extension",
    "recording-on",
    "recording-off",
]


def tone_pcm(frequency: float, seconds: float = 0.1, rate: int = 8000) -> bytes:
    count = int(rate * seconds)
    return struct.pack(
        f"<{count}h",
        *(round(8000 * math.sin(2 * math.pi * frequency * n / rate)) for n in range(count)),
    )


def write_prompt(folder: Path, language: str, name: str, pcm: bytes, rate: int = 8000) -> Path:
    path = folder / language / f"{name}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_wav(pcm, rate=rate))
    return path


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """An operator's folder (searched first) and a stand-in for the shipped set."""
    return tmp_path / "data" / "prompts", tmp_path / "shipped"


# --- search order ---------------------------------------------------------------------------------


def test_the_first_folder_overrides_the_later_ones(folders: tuple[Path, Path]) -> None:
    operator, shipped = folders
    write_prompt(shipped, "en", "welcome", tone_pcm(500))
    write_prompt(operator, "en", "welcome", tone_pcm(900))
    write_prompt(shipped, "en", "goodbye", tone_pcm(300))
    library = PromptLibrary([operator, shipped])
    assert library.load("welcome").pcm == tone_pcm(900)
    assert library.load("goodbye").pcm == tone_pcm(300)


def test_a_prompt_missing_in_a_language_falls_back_to_english(folders: tuple[Path, Path]) -> None:
    operator, shipped = folders
    write_prompt(shipped, "en", "goodbye", tone_pcm(300))
    write_prompt(shipped, "ru", "welcome", tone_pcm(600))
    write_prompt(operator, "en", "welcome", tone_pcm(900))
    library = PromptLibrary([operator, shipped])
    assert library.load("goodbye", "ru").pcm == tone_pcm(300)
    # The caller's language wins over an operator's English recording.
    assert library.load("welcome", "ru").pcm == tone_pcm(600)


def test_a_regional_language_falls_back_to_its_base_then_english(
    folders: tuple[Path, Path],
) -> None:
    _, shipped = folders
    write_prompt(shipped, "pt", "welcome", tone_pcm(700))
    write_prompt(shipped, "en", "goodbye", tone_pcm(300))
    write_prompt(shipped, "pt-br", "goodbye", tone_pcm(400))
    library = PromptLibrary([shipped])
    assert library.load("welcome", "pt-br").pcm == tone_pcm(700)
    assert library.load("goodbye", "pt-br").pcm == tone_pcm(400)
    assert library.load("goodbye", "pt").pcm == tone_pcm(300)


def test_a_missing_prompt_names_every_file_looked_for(folders: tuple[Path, Path]) -> None:
    operator, shipped = folders
    library = PromptLibrary([operator, shipped])
    with pytest.raises(PromptNotFoundError) as caught:
        library.load("nothing", "ru")
    message = str(caught.value)
    for folder in (operator, shipped):
        for language in ("ru", "en"):
            assert str(folder / language / "nothing.wav") in message
    assert not library.has("nothing", "ru")


def test_an_unreadable_override_is_passed_over_for_the_next_file(
    folders: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    operator, shipped = folders
    write_prompt(shipped, "en", "welcome", tone_pcm(500))
    broken = operator / "en" / "welcome.wav"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"ID3\x04 this is an mp3")
    library = PromptLibrary([operator, shipped])
    assert library.load("welcome").pcm == tone_pcm(500)
    assert "not a WAV" in caplog.text
    assert str(broken) in caplog.text


def test_a_prompt_whose_only_file_is_unreadable_is_not_found(folders: tuple[Path, Path]) -> None:
    _, shipped = folders
    broken = shipped / "en" / "welcome.wav"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    with pytest.raises(PromptNotFoundError, match="no 'fmt ' chunk"):
        PromptLibrary([shipped]).load("welcome")


# --- decoding and caching -------------------------------------------------------------------------


def test_any_wav_format_is_converted_once_to_8khz_and_both_g711_laws(
    folders: tuple[Path, Path],
) -> None:
    operator, _ = folders
    write_prompt(operator, "en", "hello", tone_pcm(1000, 0.5, 16000), rate=16000)
    clip = PromptLibrary([operator]).load("hello")
    assert clip.name == "hello"
    assert clip.duration == pytest.approx(0.5)
    assert len(clip.pcm) == 2 * 4000
    assert clip.ulaw == linear_to_ulaw(clip.pcm)
    assert clip.alaw == linear_to_alaw(clip.pcm)


def test_loading_twice_returns_the_same_clip(folders: tuple[Path, Path]) -> None:
    operator, _ = folders
    path = write_prompt(operator, "en", "goodbye", tone_pcm(300))
    library = PromptLibrary([operator])
    first = library.load("goodbye")
    path.unlink()  # a cached prompt is not read again
    assert library.load("goodbye") is first
    assert library.load("goodbye", "ru") is first  # the same file through the fallback


def test_forget_makes_changed_files_read_again(folders: tuple[Path, Path]) -> None:
    operator, _ = folders
    write_prompt(operator, "en", "goodbye", tone_pcm(300))
    library = PromptLibrary([operator])
    first = library.load("goodbye")
    write_prompt(operator, "en", "goodbye", tone_pcm(800))
    assert library.load("goodbye") is first
    library.forget()
    assert library.load("goodbye").pcm == tone_pcm(800)


def test_clip_repr_leaves_out_the_audio() -> None:
    clip = Clip(name="x", pcm=b"\x00" * 1000, ulaw=b"", alaw=b"", duration=0.0625)
    assert repr(clip) == "Clip(name='x', duration=0.0625)"


def test_load_file_reads_any_path_and_names_the_clip_after_it(tmp_path: Path) -> None:
    path = tmp_path / "hold-music.wav"
    path.write_bytes(encode_wav(tone_pcm(440, 0.2, 44100), rate=44100))
    clip = load_file(path)
    assert clip.name == "hold-music"
    assert clip.duration == pytest.approx(0.2)
    assert load_file(path, name="moh/default").name == "moh/default"
    with pytest.raises(PromptNotFoundError, match="cannot read"):
        load_file(tmp_path / "absent.wav")


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../secrets", "'..'"),
        ("digits/../../etc/passwd", "'..'"),
        ("/etc/passwd", "absolute"),
        ("C:/prompts/x", "absolute"),
        ("digits\\5", "backslash"),
        ("", "empty"),
        ("x" * 201, "longer than"),
        ("hello world", "letters, digits"),
        ("digits//5", "letters, digits"),
        ("welcome.wav", "letters, digits"),
        (".hidden", "letters, digits"),
    ],
)
def test_names_that_could_leave_the_prompt_folders_are_refused(name: str, problem: str) -> None:
    library = PromptLibrary([SHIPPED_PROMPTS])
    with pytest.raises(PromptNameError, match=re.escape(problem)):
        library.load(name)
    with pytest.raises(PromptNameError):
        library.has(name)


@pytest.mark.parametrize("language", ["../en", "en/../..", "", "EN", "e"])
def test_languages_that_are_not_codes_are_refused(language: str) -> None:
    with pytest.raises(PromptNameError, match="language code"):
        PromptLibrary([SHIPPED_PROMPTS]).load("welcome", language)


def test_a_bad_name_is_a_prompt_not_found_to_code_that_skips_missing_prompts() -> None:
    with pytest.raises(PromptNotFoundError):
        PromptLibrary([SHIPPED_PROMPTS]).load("../x")


def test_digits_names_the_digit_prompts_of_a_number() -> None:
    library = PromptLibrary([SHIPPED_PROMPTS])
    assert library.digits("105") == ["digits/1", "digits/0", "digits/5"]
    assert library.digits("+7 (495) 1", "ru") == [f"digits/{d}" for d in "74951"]
    assert library.digits("") == []


# --- the shipped set ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CONTRACT_PROMPTS)
def test_every_contract_prompt_ships_in_english(name: str) -> None:
    library = PromptLibrary([SHIPPED_PROMPTS])
    assert library.has(name, "en")
    clip = library.load(name)
    assert 0.2 < clip.duration < 8.0
    assert max(abs(v) for v in struct.unpack(f"<{len(clip.pcm) // 2}h", clip.pcm)) > 16000


def test_shipped_prompts_are_8khz_mu_law_mono_and_small_in_total() -> None:
    files = sorted(SHIPPED_PROMPTS.glob("en/**/*.wav"))
    assert len(files) >= len(CONTRACT_PROMPTS)
    for path in files:
        header = path.read_bytes()[:44]
        tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", header, 20)
        assert (tag, channels, rate, bits) == (7, 1, 8000, 8), path
    # 8 KB a second of speech: the whole set (menus, queues, parking, the voicemail
    # menus, numbers, days and months) stays around three minutes.
    assert sum(path.stat().st_size for path in files) < 2_000_000
