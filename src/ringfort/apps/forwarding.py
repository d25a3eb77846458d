"""A phone sets its own forwarding and do-not-disturb with feature codes (see `features`).

The call is answered, the change is made to the caller's extension, and the caller hears
what is now in force ("Calls will be forwarded to 1 0 3", "Do not disturb is on"). A
forward code dialled without its number asks for it (keyed, then ``#``). A forward to
nobody's number, or to the caller's own, is refused with "That is not a valid choice"
and changes nothing.
"""

from __future__ import annotations

import logging

from ringfort.apps.features import DND_OFF, DND_ON, FORWARD_OFF, FORWARD_ON
from ringfort.apps.ivr.menu import clips_for
from ringfort.apps.ports import ForwardingStore
from ringfort.errors import NotFoundError, ValidationError
from ringfort.media.prompts import PromptLibrary
from ringfort.pbx.control import CallControl
from ringfort.pbx.forwarding import ForwardingChange

__all__ = ["run_forwarding_code"]

log = logging.getLogger(__name__)

MAX_NUMBER_DIGITS = 20
NUMBER_TIMEOUT = 10.0
"""Seconds to wait for the first digit of a number asked for."""
NUMBER_INTERDIGIT = 5.0

_FORWARD_ON_PROMPTS = {
    "always": "forward-always-on",
    "busy": "forward-busy-on",
    "no_answer": "forward-no-answer-on",
}


async def run_forwarding_code(
    call: CallControl,
    code: str,
    target: str,
    store: ForwardingStore,
    prompts: PromptLibrary,
    language: str,
) -> None:
    """Carry out forwarding or do-not-disturb ``code`` (with ``target`` for a forward on)
    for the calling extension, and say what is in force now."""
    await call.answer()
    extension = call.caller
    said: tuple[str, ...]
    if code in FORWARD_ON:
        which = FORWARD_ON[code]
        if not target:
            await call.play(
                clips_for(prompts, ("forward-enter-number",), language), interruptible=True
            )
            target = await call.collect_digits(
                MAX_NUMBER_DIGITS, NUMBER_TIMEOUT, interdigit_timeout=NUMBER_INTERDIGIT
            )
            if not target:
                log.info("%s dialled %s and keyed no number", extension, code)
                await call.play(clips_for(prompts, ("no-input", "goodbye"), language))
                return
        change = _forward(which, target)
        said = (_FORWARD_ON_PROMPTS[which], *prompts.digits(target))
    elif code in FORWARD_OFF:
        change = _forward(FORWARD_OFF[code], "")
        said = ("forward-off",)
    else:
        dnd = code == DND_ON or (code != DND_OFF and not (await store.forwarding(extension)).dnd)
        change = ForwardingChange(dnd=dnd)
        said = ("dnd-on" if dnd else "dnd-off",)
    try:
        await store.set_forwarding(extension, change)
    except (ValidationError, NotFoundError) as error:
        log.info("%s dialled %s%s: refused (%s)", extension, code, target, error)
        await call.play(clips_for(prompts, ("invalid", "goodbye"), language))
        return
    log.info("%s dialled %s%s: %s", extension, code, target, change)
    await call.play(clips_for(prompts, (*said, "goodbye"), language))


def _forward(which: str, target: str) -> ForwardingChange:
    """A change of the one forward ``which`` (``always``, ``busy``, ``no_answer``)."""
    if which == "always":
        return ForwardingChange(always=target)
    if which == "busy":
        return ForwardingChange(busy=target)
    return ForwardingChange(no_answer=target)
