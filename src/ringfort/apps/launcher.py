"""Runs what a destination names on a call: menus, time conditions, queues, extensions, feature
codes, hang-up."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

from ringfort.apps.features import MY_VOICEMAIL, split_feature, split_forwarding
from ringfort.apps.forwarding import run_forwarding_code
from ringfort.apps.ivr.menu import clips_for, run_menu
from ringfort.apps.parking import ParkingLot, run_parking
from ringfort.apps.ports import AppDirectory, ForwardingStore
from ringfort.apps.queue.caller import run_queue
from ringfort.apps.queue.centre import CallCentre
from ringfort.apps.queue.login import run_feature
from ringfort.apps.queue.ports import QueueDirectory
from ringfort.apps.voicemail import MailboxStore, MessageLimits, leave_message
from ringfort.apps.voicemail_menu import run_voicemail_menu
from ringfort.disposition import Disposition
from ringfort.media.prompts import PromptLibrary
from ringfort.pbx.control import BridgeResult, CallControl, TransferRequested
from ringfort.pbx.destination import Destination, DestinationKind, mailbox_after
from ringfort.pbx.forwarding import NO_FORWARDING, Forwarding

__all__ = ["MAX_HOPS", "Applications"]

log = logging.getLogger(__name__)

MAX_HOPS = 32
"""Menus and time conditions a call may pass through; more means they point at each other."""


_DO_NOT_DISTURB = BridgeResult(False, 486, Disposition.BUSY, "busy")
"""What ringing an extension in do-not-disturb comes to (it is not rung)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Applications:
    """The AppLauncher of the call core: follows destinations until the caller is put through.

    ``now`` is the wall clock time conditions are judged by (injected in tests).
    Queues and agents' feature codes need ``queues`` and ``centre``; extensions' forwards,
    do-not-disturb and their feature codes need ``forwards``.
    """

    def __init__(
        self,
        directory: AppDirectory,
        prompts: PromptLibrary,
        *,
        now: Callable[[], datetime] = _utc_now,
        language: str = "en",
        queues: QueueDirectory | None = None,
        centre: CallCentre | None = None,
        parking: ParkingLot | None = None,
        voicemail: MailboxStore | None = None,
        message_limits: MessageLimits | None = None,
        zone: tzinfo | None = None,
        forwards: ForwardingStore | None = None,
    ) -> None:
        self._directory = directory
        self._forwards = forwards
        self._prompts = prompts
        self._now = now
        self._language = language
        self._queues = queues
        self._centre = centre
        self._parking = parking
        self._voicemail = voicemail
        self._message_limits = message_limits or MessageLimits()
        self._zone = zone

    async def run(self, call: CallControl, destination: Destination | None) -> None:
        """Take ``call`` from ``destination`` on until it is connected or hung up.

        An application that transfers the caller (`CallControl.transfer`) hands it to
        the number's destination here, as one more hop. Without a destination the caller
        is bridged already (a call between two phones taken over for a transfer): the
        bridged phone's transfers are followed from the start.
        """
        language = self._language
        if destination is None:
            first = await self._follow_bridge(call)
            if first is None:
                return
            destination, language = first
        for _ in range(MAX_HOPS):
            try:
                step = await self._step(call, destination, language)
            except TransferRequested as transfer:
                step = await self._destination_of(call, transfer.number)
                log.info("call %s: transferred to %s (%s)", call.uniqueid, transfer.number, step)
            if step is None:
                # The application is done; a caller it connected may still be handed on.
                step = await self._follow_bridge(call)
            if step is None:
                return
            destination, language = step
        log.warning("call %s: destinations loop (more than %d hops)", call.uniqueid, MAX_HOPS)

    async def _lookup(self, number: str) -> Destination | None:
        """Where a call to ``number`` goes: an extension, a number of the dial plan, a
        parking slot; None for nobody's number."""
        if await self._directory.extension_exists(number):
            return Destination(DestinationKind.EXTENSION, number)
        destination = await self._directory.resolve(number)
        if destination is not None:
            return destination
        if self._parking is not None and number in self._parking:
            return Destination(DestinationKind.FEATURE, number)
        return None

    async def _destination_of(
        self, call: CallControl, number: str
    ) -> tuple[Destination, str] | None:
        """Where a transfer to ``number`` goes; an unknown number is announced and ends here."""
        destination = await self._lookup(number)
        if destination is not None:
            return destination, self._language
        log.warning("call %s: transfer to %s, which is nobody's number", call.uniqueid, number)
        if call.answered and not call.gone:
            await call.play(clips_for(self._prompts, ("not-available", "goodbye"), self._language))
        return None

    async def _follow_bridge(self, call: CallControl) -> tuple[Destination, str] | None:
        """While the caller talks to someone they were connected to, follow the transfers:
        an attended one connects them to someone else (watched in turn), a blind one sends
        them to a number (the next destination). None when the call is over."""
        while call.bridged and not call.gone:
            transfer = await call.wait_bridge_end()
            if transfer is None:
                return None
            log.info(
                "call %s: %s transfer to %s",
                call.uniqueid,
                "attended" if transfer.attended else "blind",
                transfer.number,
            )
            if not transfer.attended:
                return await self._destination_of(call, transfer.number)
        return None

    async def _step(
        self, call: CallControl, destination: Destination, language: str
    ) -> tuple[Destination, str] | None:
        """Run one destination; the next one (and its language), or None when done."""
        kind = destination.kind
        if kind is DestinationKind.EXTENSION:
            return await self._extension(call, destination.target, language)
        if kind is DestinationKind.VOICEMAIL and self._voicemail is not None:
            if not destination.target:
                await self._voicemail_menu(call, self._voicemail, None, language)
                return None
            operator = await leave_message(
                call, destination.target, busy=destination.busy, store=self._voicemail,
                prompts=self._prompts, language=language, limits=self._message_limits,
            )  # fmt: skip
            return None if operator is None else (operator, language)
        if kind is DestinationKind.HANGUP:
            if call.answered:
                await call.play(clips_for(self._prompts, ("goodbye",), language))
            return None
        if kind is DestinationKind.TIMECOND:
            condition = await self._directory.time_condition(destination.target)
            if condition is None:
                log.warning("call %s: time condition %r is gone", call.uniqueid, destination)
                return None
            chosen = condition.choose(self._now())
            log.info("call %s: %s -> %s", call.uniqueid, condition.name, chosen)
            return chosen, language
        if kind is DestinationKind.IVR:
            menu = await self._directory.menu(destination.target)
            if menu is None:
                log.warning("call %s: menu %r is gone", call.uniqueid, destination)
                return None
            return await run_menu(call, menu, self._prompts, self._directory), menu.language
        if kind is DestinationKind.QUEUE and self._centre is not None:
            config = await self._centre.queue_config(destination.target)
            if config is None:
                log.warning("call %s: queue %r is gone", call.uniqueid, destination)
                return None
            after = await run_queue(
                call, config, self._centre, self._prompts, language,
                priority=destination.priority,
            )  # fmt: skip
            return None if after is None else (after, language)
        if (
            kind is DestinationKind.FEATURE
            and self._parking is not None
            and destination.target in self._parking
        ):
            await run_parking(call, self._parking, destination.target, self._prompts, language)
            return None
        voicemail = self._voicemail
        if (
            kind is DestinationKind.FEATURE
            and destination.target == MY_VOICEMAIL
            and voicemail is not None
        ):
            await self._voicemail_menu(call, voicemail, call.caller, language)
            return None
        is_feature = kind is DestinationKind.FEATURE
        forward_code = split_forwarding(destination.target) if is_feature else None
        if forward_code is not None and self._forwards is not None:
            code, target = forward_code
            await run_forwarding_code(call, code, target, self._forwards, self._prompts, language)
            return None
        feature = split_feature(destination.target) if is_feature else None
        if feature is not None and self._queues is not None and self._centre is not None:
            code, queue_number = feature
            await run_feature(
                call, code, queue_number, self._queues, self._centre, self._prompts, language
            )
            return None
        log.warning("call %s: %s is not available yet", call.uniqueid, destination)
        return None

    async def _extension(
        self, call: CallControl, number: str, language: str
    ) -> tuple[Destination, str] | None:
        """Put the caller through to extension ``number``, following its forwards and
        do-not-disturb, and those of the extensions they lead to (each extension once, so
        forwards that point at each other end at the extension that closes the loop);
        failing that, to the mailbox of the extension that did not take the call."""
        seen = {number}
        while True:
            forwarding = await self._forwarding(number)
            onward = await self._forward(call, number, forwarding.always, "always", seen)
            if onward is None:
                if forwarding.dnd:
                    log.info("call %s: %s is in do-not-disturb", call.uniqueid, number)
                    result = _DO_NOT_DISTURB
                else:
                    result = await call.bridge(number)
                    if result.direct:
                        return None  # put through before answer: the phones' call now
                    if result.answered:
                        # Stay with the call while it is bridged: it may be transferred on.
                        return await self._follow_bridge(call)
                after = forwarding.after(result.cause)
                onward = await self._forward(call, number, after, result.cause, seen)
                if onward is None:
                    return await self._not_taken(call, number, result, language)
            if onward.kind is not DestinationKind.EXTENSION:
                return onward, language
            number = onward.target
            seen.add(number)

    async def _forwarding(self, number: str) -> Forwarding:
        if self._forwards is None:
            return NO_FORWARDING
        return await self._forwards.forwarding(number)

    async def _forward(
        self, call: CallControl, number: str, target: str | None, why: str, seen: set[str]
    ) -> Destination | None:
        """Where ``number``'s forward to ``target`` (for ``why``) leads; None when there is
        no forward, it leads back to an extension this call came through, or to nobody."""
        if target is None or call.gone:
            return None
        if target in seen:
            log.info("call %s: %s forwards (%s) to %s, which forwarded here; not followed",
                     call.uniqueid, number, why, target)  # fmt: skip
            return None
        destination = await self._lookup(target)
        if destination is None:
            log.warning("call %s: %s forwards (%s) to %s, which is nobody's number",
                        call.uniqueid, number, why, target)  # fmt: skip
            return None
        log.info("call %s: %s forwards (%s) to %s", call.uniqueid, number, why, target)
        return destination

    async def _not_taken(
        self, call: CallControl, number: str, result: BridgeResult, language: str
    ) -> tuple[Destination, str] | None:
        """Extension ``number`` did not take the call and forwards nowhere: its mailbox;
        else an answered caller hears so, and one not answered yet gets the failure."""
        mailbox = await self._mailbox_after(call, number, result)
        if mailbox is not None:
            return mailbox, language
        if call.gone:
            return None
        if call.answered:
            await call.play(clips_for(self._prompts, ("not-available", "goodbye"), language))
        else:
            await call.hangup(result.cause, status=result.status, disposition=result.disposition)
        return None

    async def _mailbox_after(
        self, call: CallControl, number: str, result: BridgeResult
    ) -> Destination | None:
        """Where the caller goes when extension ``number`` did not take the call: its
        mailbox, if it has voicemail on and the failure is one a mailbox is for (busy,
        declined, no answer, no phone), as for a call dialled straight to it; else None.
        A caller not answered yet is still there only when the call core left the failure
        to us (the extension has a mailbox); otherwise it has been told and is gone."""
        destination = mailbox_after(number, result.cause)
        if self._voicemail is None or call.gone or destination is None:
            return None
        mailbox = await self._voicemail.mailbox(number)
        if mailbox is None or not mailbox.enabled:
            return None
        log.info("call %s: %s %s; to voicemail", call.uniqueid, number, result.cause)
        return destination

    async def _voicemail_menu(
        self, call: CallControl, store: MailboxStore, mailbox: str | None, language: str
    ) -> None:
        await run_voicemail_menu(
            call,
            store,
            self._prompts,
            language,
            mailbox=mailbox,
            zone=self._zone,
            now=self._now,
        )
