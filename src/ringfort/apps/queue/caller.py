"""A caller's time in a queue: music, announcements, agents rung, and where the caller goes after.

The caller hears music on hold from joining until an agent answers (agents are
rung without ringback, as in app_queue). Position and expected wait are
announced after ``announce_first`` seconds and then every ``announce_every``;
the periodic prompt every ``periodic_every``; an announcement due while agents
ring waits, and one under way stops when an agent answers. The exit key, the
maximum wait and the leave rule end the wait with the overflow destination.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable

from ringfort.apps.ivr.menu import clips_for
from ringfort.apps.queue import events
from ringfort.apps.queue.centre import CallCentre, Waiter
from ringfort.apps.queue.config import QueueConfig
from ringfort.media.prompts import PromptLibrary
from ringfort.pbx.control import CallControl, CallGoneError, Transfer
from ringfort.pbx.destination import Destination

__all__ = ["run_queue"]

log = logging.getLogger(__name__)

_POLL = 1.0
"""Longest sleep between checks of the leave rule (changes of other callers' agents)."""


async def run_queue(
    call: CallControl,
    config: QueueConfig,
    centre: CallCentre,
    prompts: PromptLibrary,
    language: str,
    *,
    priority: int = 0,
    clock: Callable[[], float] | None = None,
) -> Destination | None:
    """Keep ``call`` in ``config``'s line until an agent has talked to it or it must go on.

    ``priority`` puts the caller ahead of those waiting with a lower one (the
    destination that sent them here says it: ``queue:sales;priority=5``).

    Returns where the caller goes next (the overflow or exit destination), or None
    when the call is over (talked to an agent, or hung up).
    """
    why = centre.refusal(config)
    if why is not None:
        log.info("call %s: not let into queue %s (%s)", call.uniqueid, config.name, why)
        centre.refuse(config, call, why)
        return config.overflow
    await call.answer()
    waiter = centre.join(config, call, priority=priority)
    log.info(
        "call %s from %s: waiting in queue %s at %d",
        call.uniqueid,
        call.caller,
        config.name,
        waiter.position,
    )
    visit = _Visit(call, config, centre, waiter, prompts, language, clock)
    try:
        return await visit.run()
    except CallGoneError:
        visit.caller_left()
        return None
    finally:
        await visit.quiet()


class _Visit:
    """One caller's wait, attempts and conversation."""

    def __init__(
        self,
        call: CallControl,
        config: QueueConfig,
        centre: CallCentre,
        waiter: Waiter,
        prompts: PromptLibrary,
        language: str,
        clock: Callable[[], float] | None,
    ) -> None:
        self.call = call
        self.config = config
        self.centre = centre
        self.waiter = waiter
        self.prompts = prompts
        self.language = language
        self.clock = clock or asyncio.get_running_loop().time
        self.speaking: asyncio.Task[str | None] | None = None
        self.ring_started: float | None = None
        self.next_position = waiter.joined + config.announce_first
        self.next_periodic = (
            waiter.joined + config.periodic_every
            if config.periodic_prompt and config.periodic_every > 0
            else math.inf
        )

    async def run(self) -> Destination | None:
        config, call = self.config, self.call
        await call.start_music()
        while True:
            if call.gone:
                raise CallGoneError(f"call {call.uniqueid} is over")
            now = self.clock()
            if config.max_wait and now - self.waiter.joined >= config.max_wait:
                self.centre.leave(self.waiter, events.EXITWITHTIMEOUT)
                log.info("call %s: waited the maximum in %s", call.uniqueid, config.name)
                return config.overflow
            if self.centre.must_leave(self.waiter):
                self.centre.leave(self.waiter, events.EXITEMPTY)
                log.info("call %s: no agents left in %s", call.uniqueid, config.name)
                return config.overflow
            if self.speaking is None:
                await self._announce_if_due(now)
            key = call.take_digits()
            if config.exit_key and config.exit_key in key:
                self.centre.leave(self.waiter, events.EXITWITHKEY, config.exit_key)
                log.info("call %s: left %s by key", call.uniqueid, config.name)
                return config.exit_destination or config.overflow
            offer = self.waiter.offer
            if offer.done() and not offer.cancelled():
                if await self._attempt(offer.result()):
                    return None
                continue
            await self._wait(now)

    async def _wait(self, now: float) -> None:
        """Sleep until an offer, a key, the end of an announcement or the next thing due."""
        due = [now + _POLL]
        if self.config.max_wait:
            due.append(self.waiter.joined + self.config.max_wait)
        if self.speaking is None:
            due.append(self.next_periodic)
            if self.config.announce_position:
                due.append(self.next_position)
        timeout = max(0.0, min(due) - now)
        digit = asyncio.ensure_future(self.call.collect_digits(1, timeout, terminator=""))
        waits: set[asyncio.Future[object]] = {self.waiter.offer, digit}  # type: ignore[arg-type]
        if self.speaking is not None:
            waits.add(self.speaking)  # type: ignore[arg-type]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            digit.cancel()
            with contextlib.suppress(asyncio.CancelledError, CallGoneError):
                pressed = await digit
                if pressed:
                    # Put it back for the exit-key check.
                    self.call.on_digit(pressed, "queue")
        if self.speaking is not None and self.speaking.done():
            self.speaking = None
            if not self.call.gone:
                await self.call.start_music()

    async def _announce_if_due(self, now: float) -> None:
        config = self.config
        names: list[str] = []
        if config.announce_position and now >= self.next_position:
            names = self._position_words()
            self.next_position = (
                now + config.announce_every if config.announce_every > 0 else math.inf
            )
        elif now >= self.next_periodic:
            assert config.periodic_prompt is not None
            names = [config.periodic_prompt]
            self.next_periodic = now + config.periodic_every
        clips = clips_for(self.prompts, names, self.language) if names else []
        if not clips:
            return
        self.call.stop_music()
        self.speaking = asyncio.ensure_future(self.call.play(clips))

    def _position_words(self) -> list[str]:
        position = self.centre.position(self.waiter)
        words = ["queue-position", *_digits(position), "queue-in-line"]
        expected = self.centre.expected_wait(self.config.name)
        if expected is not None:
            minutes = round(expected * position / 60)
            if minutes < 1:
                words.append("queue-wait-short")
            else:
                words += ["queue-wait", *_digits(minutes), "queue-minutes"]
        return words

    async def _attempt(self, agents: list[str]) -> bool:
        """Ring ``agents``; True once one has answered and the conversation is over."""
        call, config = self.call, self.config
        await self._stop_speaking()
        await call.start_music()
        started = self.ring_started = self.clock()
        ring_timeout = config.ring_timeout
        if config.max_wait:
            # Ringing does not stretch the maximum wait (app_queue's timeoutpriority=app).
            left = self.waiter.joined + config.max_wait - started
            ring_timeout = max(0.5, min(ring_timeout, left))
        # The agents' phones: an agent is rung wherever they logged in.
        phones: dict[str, str] = {}
        for agent in agents:
            phone = self.centre.phone_of(agent)
            if phone is not None:
                phones.setdefault(phone, agent)
        log.info(
            "call %s: ringing %s for %s",
            call.uniqueid,
            ", ".join(f"agent {agent} at {phone}" for phone, agent in phones.items()),
            config.name,
        )
        result = (
            await call.bridge(
                list(phones), ring_timeout=ring_timeout, ringback=False, record=config.record
            )
            if phones
            else None
        )
        rang = self.clock() - started
        self.ring_started = None
        answered_by = phones.get(result.number or "") if result is not None else None
        if result is None or not result.answered or answered_by is None:
            self.centre.not_answered(self.waiter, rang, cancelled=False)
            if not call.gone:
                await call.start_music()
            return False
        self.centre.answered(self.waiter, answered_by, result.uniqueid or "", rang)
        talk_started = self.clock()
        transfer: Transfer | None = None
        try:
            transfer = await call.wait_bridge_end()
        finally:
            self.centre.completed(
                self.waiter,
                answered_by,
                call.ended_by,
                self.clock() - talk_started,
                transfer=transfer,
            )
        if transfer is not None and not transfer.attended:
            # The agent handed the caller on: they go there as if they had dialled it.
            await call.transfer(transfer.number)
        # After an attended transfer the caller talks to the target: the queue is done.
        return True

    def caller_left(self) -> None:
        """The caller hung up while waiting or while agents rang."""
        if self.waiter.ringing and self.ring_started is not None:
            self.centre.not_answered(self.waiter, self.clock() - self.ring_started, cancelled=True)
        self.centre.leave(self.waiter, events.ABANDON)

    async def _stop_speaking(self) -> None:
        speaking, self.speaking = self.speaking, None
        if speaking is not None and not speaking.done():
            speaking.cancel()
            with contextlib.suppress(asyncio.CancelledError, CallGoneError):
                await speaking

    async def quiet(self) -> None:
        """Nothing of the visit may outlive it."""
        await self._stop_speaking()


def _digits(number: int) -> list[str]:
    return [f"digits/{digit}" for digit in str(number)]
