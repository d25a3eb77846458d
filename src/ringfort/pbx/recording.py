"""Recording calls: which ones, where the file goes, the on-demand key, hold pauses.

The B2BUA asks `CallRecorder` at each moment of a call that matters to a
recording: whether the call is to be recorded (the rules), the answer (start),
hold and resume (pause), a toggle key pressed by either party, and the end
(close; the file's path goes into the call's CDR row).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ringfort.media.engine import LegMedia, MediaEngine
from ringfort.media.recorder import CallRecording
from ringfort.pbx.ports import RecordingRules

__all__ = ["HOLD", "TOGGLE", "ActiveRecording", "CallRecorder", "ToggleKeys"]

log = logging.getLogger(__name__)

HOLD = "hold"
"""Pause reason: the call is on hold."""
TOGGLE = "toggle"
"""Pause reason: a party pressed the toggle key."""

TOGGLE_KEY_GAP = 2.0
"""Seconds allowed between the keys of the toggle code (``*`` then ``1``)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(slots=True)
class ActiveRecording:
    """A call's recording in progress and the CDR row it belongs to."""

    recording: CallRecording
    relative: str
    """The path under the recordings directory, as the CDR's ``recording`` column holds it."""
    uniqueid: str
    """The CDR row (the call, or the bridge of an application's call) it is linked to."""

    @property
    def toggled_off(self) -> bool:
        """Whether a party paused it with the toggle key."""
        return self.recording.paused_for(TOGGLE)


class ToggleKeys:
    """A MediaListener on one bridged leg: calls ``on_toggle`` when its phone keys the code.

    The keys still reach the other party (the relay passes them on); only the
    sequence is watched, each key within `TOGGLE_KEY_GAP` seconds of the one before.
    """

    def __init__(
        self, code: str, on_toggle: Callable[[], None], clock: Callable[[], float]
    ) -> None:
        self._code = code
        self._on_toggle = on_toggle
        self._clock = clock
        self._typed = ""
        self._last = 0.0

    def on_digit(self, digit: str, source: str) -> None:
        """One key from the phone."""
        now = self._clock()
        if now - self._last > TOGGLE_KEY_GAP:
            self._typed = ""
        self._last = now
        self._typed = (self._typed + digit)[-len(self._code) :]
        if self._typed == self._code:
            self._typed = ""
            self._on_toggle()


class CallRecorder:
    """Starts, pauses and finishes call recordings under ``directory``.

    Files go to ``<directory>/<YYYY>/<MM>/<DD>/<uniqueid>.wav`` (the date the
    recording began, UTC), with ``<uniqueid>.json`` beside them. Trouble with
    the disk is logged and costs the recording, never the call.
    """

    def __init__(
        self,
        *,
        media: MediaEngine,
        directory: Path,
        rules: RecordingRules | None = None,
        toggle_code: str = "*1",
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._media = media
        self._directory = directory
        self._rules = rules
        self.toggle_code = toggle_code
        """The keys that start or pause a call's recording; empty: the key is off."""
        self._wall = wall

    @property
    def directory(self) -> Path:
        """Where recordings are written."""
        return self._directory

    async def wanted(self, src: str, dst: str) -> bool:
        """Whether a rule says to record a call from ``src`` to ``dst`` from its answer."""
        if self._rules is None:
            return False
        try:
            return await self._rules.wanted(src, dst)
        except Exception:
            log.exception("the recording rules could not be read; %s -> %s not recorded", src, dst)
            return False

    def start(
        self,
        *,
        uniqueid: str,
        linkedid: str,
        src: str,
        dst: str,
        legs: Sequence[LegMedia],
        held: bool,
    ) -> ActiveRecording | None:
        """Record ``legs`` (caller first) from now; paused at once if the call is ``held``."""
        began = self._wall()
        relative = f"{began:%Y/%m/%d}/{_UNSAFE.sub('_', uniqueid)}.wav"
        try:
            recording = CallRecording(
                self._directory / relative,
                len(legs),
                wall=self._wall,
                metadata={"uniqueid": uniqueid, "linkedid": linkedid, "src": src, "dst": dst},
            )
        except OSError:
            log.exception("call %s: the recording could not be started", uniqueid)
            return None
        if held:
            recording.pause(HOLD)
        self._media.start_recording(recording, legs)
        log.info("call %s: recording to %s", uniqueid, relative)
        return ActiveRecording(recording, relative, uniqueid)

    def finish(self, active: ActiveRecording) -> str:
        """Stop and close the recording; its path for the CDR row."""
        self._media.stop_recording(active.recording)
        try:
            active.recording.close()
        except OSError:
            log.exception("call %s: the recording could not be finished", active.uniqueid)
        return active.relative
