"""In-band DTMF with a real phone: baresip plays a key's tones in its audio (no RFC 4733
event, no SIP INFO), the menu hears the key and puts the call through.
"""

from __future__ import annotations

import array
import sys
import wave
from pathlib import Path

import pytest
from harness import BaresipFactory, ServerFactory, extensions
from peers import free_port_block, wait_until
from test_calls_baresip import MEDIA_PORTS, control, diagnostics, next_event, tone_phone

from ringfort.rtp.tones import ToneGenerator, dtmf_tone

pytestmark = pytest.mark.peers

SAMPLE_RATE = 8000
FRAME_SECONDS = 0.02


def key_wav(path: Path, key: str, *, after: float, press: float = 0.2, total: float = 30.0) -> Path:
    """An 8 kHz WAV of silence with ``key``'s DTMF tones ``after`` seconds in, for ``press``."""
    generator = ToneGenerator(dtmf_tone(key))
    silence = bytes(int(SAMPLE_RATE * FRAME_SECONDS) * 2)
    frames = [silence] * round(after / FRAME_SECONDS)
    frames += [generator.next_frame() for _ in range(round(press / FRAME_SECONDS))]
    frames += [silence] * round((total - after - press) / FRAME_SECONDS)
    pcm = b"".join(frames)
    if sys.byteorder == "big":
        swapped = array.array("h", pcm)
        swapped.byteswap()
        pcm = swapped.tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm)
    return path


def test_a_key_sent_as_tones_in_the_audio_is_heard_by_the_menu(
    ringfort_factory: ServerFactory, baresip_factory: BaresipFactory, tmp_path: Path
) -> None:
    caller_ext, callee_ext = extensions("151", "152")
    media_low = free_port_block(MEDIA_PORTS + 1)
    media_low += media_low % 2
    server = ringfort_factory(
        env={
            "RINGFORT_MEDIA__PORT_LOW": str(media_low),
            "RINGFORT_MEDIA__PORT_HIGH": str(media_low + MEDIA_PORTS - 1),
            "RINGFORT_CALLS__INBAND_DTMF": "true",
        },
        extensions=[caller_ext, callee_ext],
    )
    # Only "1" leads to 152; silence ends the call after the timeout.
    server.cli(
        "ivr", "add", "tones", "--number", "750", "--option", "1=extension:152",
        "--no-direct-dial", "--timeout", "6", "--retries", "0",
        "--timeout-destination", "hangup",
    )  # fmt: skip

    def account(number: str, password: str, answermode: str) -> str:
        return (
            f"<sip:{number}@{server.sip_address}>;auth_user={number};auth_pass={password}"
            f";regint=60;answermode={answermode};audio_codecs=PCMU/8000/1"
        )

    callee = tone_phone(
        baresip_factory,
        "tones-callee",
        source_wav=key_wav(tmp_path / "quiet.wav", "5", after=25.0),
        account=account(callee_ext.number, callee_ext.password, "auto"),
    )
    caller = tone_phone(
        baresip_factory,
        "tones-caller",
        source_wav=key_wav(tmp_path / "key-1.wav", "1", after=1.5),
        account=account(caller_ext.number, caller_ext.password, "manual"),
    )
    for phone, number in ((callee, "152"), (caller, "151")):
        try:
            wait_until(phone.is_registered, timeout=5, what=f"{number} registered")
            server.wait_for_registration(number, timeout=3, via="http")
        except TimeoutError as error:
            pytest.fail(f"{error}\n{diagnostics(phone)}")

    dialled = control(caller).command("dial", f"sip:750@{server.sip_address}")
    assert dialled.get("ok"), f"dial refused: {dialled}\n{diagnostics(caller)}"
    try:
        answered = next_event(control(caller), ("CALL_ESTABLISHED", "CALL_CLOSED"), timeout=10)
        assert answered["type"] == "CALL_ESTABLISHED", answered
        # The key is in the caller's audio 1.5 s in; the menu's timeout is 6 s.
        control(callee).wait_event("CALL_ESTABLISHED", timeout=6)
    except (TimeoutError, AssertionError) as error:
        pytest.fail(
            f"the key in the audio did not reach the menu: {error}\n"
            f"{diagnostics(caller, callee)}\n{server.log()}"
        )
    assert control(caller).command("hangup").get("ok")
    control(callee).wait_event("CALL_CLOSED", timeout=5)
