"""Running an auto-attendant menu on a call: greeting, digits, retries, where the caller goes."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ringfort.apps.ivr.config import IvrMenu
from ringfort.apps.ports import AppDirectory
from ringfort.media.engine import AudioClip
from ringfort.media.prompts import PromptLibrary, PromptNotFoundError
from ringfort.pbx.control import CallControl
from ringfort.pbx.destination import Destination, DestinationKind

__all__ = ["MAX_DIRECT_DIAL_DIGITS", "clips_for", "run_menu"]

log = logging.getLogger(__name__)

MAX_DIRECT_DIAL_DIGITS = 10
"""The longest extension number a caller may dial from a menu."""


def clips_for(prompts: PromptLibrary, names: Sequence[str], language: str) -> list[AudioClip]:
    """The clips of ``names``; a missing prompt is logged and left out, not fatal to the call."""
    clips: list[AudioClip] = []
    for name in names:
        try:
            clips.append(prompts.load(name, language))
        except PromptNotFoundError as error:
            log.warning("prompt %r is missing: %s", name, error)
    return clips


async def run_menu(
    call: CallControl, menu: IvrMenu, prompts: PromptLibrary, directory: AppDirectory
) -> Destination:
    """Play ``menu`` to the caller until a choice is made or retries run out; return where next.

    Like Asterisk's and FreePBX's IVR: the greeting can be cut short by a digit; an
    entry that is an option goes there, a valid extension number goes to it when
    direct dial is on; no input plays the timeout prompt and the greeting again, as
    does an invalid entry (with its own prompt), until their retries are used up.
    """
    await call.answer()
    greeting = clips_for(prompts, menu.greeting, menu.language)
    longest = max((len(option.digits) for option in menu.options), default=1)
    if menu.direct_dial:
        longest = max(longest, MAX_DIRECT_DIAL_DIGITS)
    timeouts = invalids = 0
    before: list[AudioClip] = []
    while True:
        await call.play([*before, *greeting], interruptible=True)
        entry = await _collect(call, menu, longest)
        if not entry:
            timeouts += 1
            log.info("call %s: menu %s, no input (%d)", call.uniqueid, menu.name, timeouts)
            before = clips_for(prompts, menu.timeout_prompt, menu.language)
            if timeouts > menu.timeout_retries:
                await call.play(before)
                return menu.timeout_destination
            continue
        chosen = menu.option_for(entry)
        if chosen is None and menu.direct_dial and await directory.extension_exists(entry):
            chosen = Destination(DestinationKind.EXTENSION, entry)
        if chosen is not None:
            log.info("call %s: menu %s, %r -> %s", call.uniqueid, menu.name, entry, chosen)
            return chosen
        invalids += 1
        log.info(
            "call %s: menu %s, invalid entry %r (%d)", call.uniqueid, menu.name, entry, invalids
        )
        before = clips_for(prompts, menu.invalid_prompt, menu.language)
        if invalids > menu.invalid_retries:
            await call.play(before)
            return menu.invalid_destination


async def _collect(call: CallControl, menu: IvrMenu, longest: int) -> str:
    """One entry: the first digit within ``digit_timeout``, more until a pause or ``#``.

    An entry that is an option no longer option starts with is taken at once when
    direct dial is off; otherwise the caller may still be dialling an extension, so
    the entry ends only after ``interdigit_timeout`` of quiet (as in Asterisk).
    """
    entry = await call.collect_digits(1, menu.digit_timeout, terminator="#")
    while entry and len(entry) < longest:
        if (
            not menu.direct_dial
            and menu.option_for(entry) is not None
            and not any(
                option.digits != entry and option.digits.startswith(entry)
                for option in menu.options
            )
        ):
            break
        more = await call.collect_digits(1, menu.interdigit_timeout, terminator="")
        if not more or more == "#":
            break
        entry += more
    return entry
