"""Agents at their phones: ``*45<queue>`` logs in with the PIN (or out), ``*46<queue>`` pauses.

As in the admin guide: from any registered phone, ``*45`` and the queue's number
asks for the PIN; the right PIN logs that agent in to the queue at that phone.
The same code from a phone where an agent is logged in to that queue logs them
out without a PIN. Three wrong PINs end the call, and each is logged with the
phone, so repeated guessing shows in the logs.
"""

from __future__ import annotations

import logging

from ringfort.apps.features import AGENT_LOGIN, AGENT_PAUSE
from ringfort.apps.ivr.menu import clips_for
from ringfort.apps.queue.centre import CallCentre
from ringfort.apps.queue.ports import QueueDirectory
from ringfort.media.prompts import PromptLibrary
from ringfort.pbx.control import CallControl

__all__ = ["PHONE_PAUSE_REASON", "PIN_ATTEMPTS", "run_feature"]

log = logging.getLogger(__name__)

PIN_ATTEMPTS = 3
PIN_TIMEOUT = 10.0
"""Seconds to wait for the first digit of the PIN."""
PIN_INTERDIGIT = 5.0
MAX_PIN_DIGITS = 16
PHONE_PAUSE_REASON = "phone"
"""The pause reason of a pause keyed at the phone (``*46``)."""


async def run_feature(
    call: CallControl,
    code: str,
    queue_number: str,
    directory: QueueDirectory,
    centre: CallCentre,
    prompts: PromptLibrary,
    language: str,
) -> None:
    """Carry out ``code`` (``*45`` or ``*46``) for the queue numbered ``queue_number``."""

    async def say(*names: str) -> None:
        await call.play(clips_for(prompts, names, language))

    await call.answer()
    config = await directory.queue_by_number(queue_number)
    if config is None:
        log.info("%s dialled %s%s: no such queue", call.caller, code, queue_number)
        await say("queue-unknown", "goodbye")
        return
    phone = call.caller
    member = await directory.agent_at_phone(config.name, phone)
    if code == AGENT_PAUSE:
        if member is None:
            await say("agent-not-logged-in", "goodbye")
            return
        if member.paused:
            await directory.unpause(config.name, member.agent)
            word = "agent-unpaused"
        else:
            await directory.pause(config.name, member.agent, PHONE_PAUSE_REASON)
            word = "agent-paused"
        await centre.refresh()
        log.info("agent %s at %s: %s in %s", member.agent, phone, word, config.name)
        await say(word)
        return
    assert code == AGENT_LOGIN
    if member is not None:
        await directory.log_out(config.name, member.agent, by_agent=True)
        await centre.refresh()
        log.info("agent %s logged out of %s at %s", member.agent, config.name, phone)
        await say("logged-out", "goodbye")
        return
    for attempt in range(1, PIN_ATTEMPTS + 1):
        await call.play(clips_for(prompts, ("enter-pin",), language), interruptible=True)
        pin = await call.collect_digits(
            MAX_PIN_DIGITS, PIN_TIMEOUT, interdigit_timeout=PIN_INTERDIGIT
        )
        agent = await directory.agent_by_pin(pin) if pin else None
        if agent is not None:
            await directory.log_in(config.name, agent.number, phone, by_agent=True)
            await centre.refresh()
            log.info("agent %s logged in to %s at %s", agent.number, config.name, phone)
            await say("logged-in")
            return
        log.warning(
            "wrong agent PIN for queue %s from phone %s (attempt %d of %d)",
            config.name,
            phone,
            attempt,
            PIN_ATTEMPTS,
        )
        await say("pin-incorrect")
    await say("goodbye")
