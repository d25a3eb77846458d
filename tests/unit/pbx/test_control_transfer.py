"""An application's blind transfer: the launcher takes the caller on to the number's destination."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from test_call_control import Driver, Player, make_call

from ringfort.apps import launcher as launcher_module
from ringfort.apps.launcher import Applications
from ringfort.apps.voicemail import Mailbox
from ringfort.disposition import Disposition, HangupBy
from ringfort.media.prompts import SHIPPED_PROMPTS, PromptLibrary
from ringfort.pbx.control import BridgeResult, CallControl, Transfer, TransferRequested
from ringfort.pbx.destination import Destination, DestinationKind


class Directory:
    """Extension 201 and menu number 800 (the menu "sales") exist; nothing else does."""

    async def extension_exists(self, number: str) -> bool:
        return number == "201"

    async def resolve(self, number: str) -> Destination | None:
        return Destination(DestinationKind.IVR, "sales") if number == "800" else None

    async def menu(self, name: str) -> Any:
        return SimpleNamespace(name=name, language="en")

    async def time_condition(self, name: str) -> Any:
        return None


@pytest.fixture
def transferring_menu(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Menus that transfer: "main" to 201, "front" to 800, "lost" to 999; "sales" hangs up."""
    targets = {"main": "201", "front": "800", "lost": "999"}
    ran: list[str] = []

    async def run_menu(call: CallControl, menu: Any, prompts: Any, directory: Any) -> Destination:
        ran.append(menu.name)
        if menu.name in targets:
            await call.transfer(targets[menu.name])
        return Destination(DestinationKind.HANGUP)

    monkeypatch.setattr(launcher_module, "run_menu", run_menu)
    return ran


def control() -> tuple[CallControl, Driver, Player]:
    player, driver = Player(), Driver()
    call = CallControl(make_call(), driver, player)  # type: ignore[arg-type]
    return call, driver, player


async def test_transfer_raises_for_the_launcher_and_stops_what_plays() -> None:
    call, _, player = control()
    with pytest.raises(TransferRequested) as raised:
        await call.transfer("201")
    assert raised.value.number == "201"
    assert player.stopped == 1


async def test_a_transfer_to_an_extension_rings_it(transferring_menu: list[str]) -> None:
    call, driver, _ = control()
    apps = Applications(Directory(), PromptLibrary([SHIPPED_PROMPTS]))  # type: ignore[arg-type]
    task = asyncio.create_task(apps.run(call, Destination(DestinationKind.IVR, "main")))
    for _ in range(10):
        await asyncio.sleep(0)
    assert driver.bridges == ["201"]
    assert driver.result is not None
    driver.result.set_result(BridgeResult(True, 200, Disposition.ANSWERED, "answered"))
    # The launcher stays with the bridged call (the extension may transfer it) until it ends.
    for _ in range(10):
        await asyncio.sleep(0)
    assert not task.done()
    call.ended(HangupBy.CALLEE)
    await asyncio.wait_for(task, 1)
    assert transferring_menu == ["main"]


async def caller_put_through_to_201() -> tuple[CallControl, asyncio.Task[None]]:
    """A caller the launcher put through to extension 201 (answered), and the launcher's run."""
    call, driver, _ = control()
    apps = Applications(Directory(), PromptLibrary([SHIPPED_PROMPTS]))  # type: ignore[arg-type]
    task = asyncio.create_task(apps.run(call, Destination(DestinationKind.EXTENSION, "201")))
    for _ in range(10):
        await asyncio.sleep(0)
    assert driver.result is not None
    driver.result.set_result(BridgeResult(True, 200, Disposition.ANSWERED, "answered"))
    for _ in range(10):
        await asyncio.sleep(0)
    return call, task


async def test_an_extension_that_transfers_its_caller_sends_them_on(
    transferring_menu: list[str],
) -> None:
    call, task = await caller_put_through_to_201()
    assert call.takes_transfers
    call.transferred(Transfer("800"))  # the phone at 201 REFERs the caller to menu 800
    await asyncio.wait_for(task, 1)
    assert transferring_menu == ["sales"]


async def test_after_an_attended_transfer_the_launcher_follows_the_new_conversation(
    transferring_menu: list[str],
) -> None:
    call, task = await caller_put_through_to_201()
    # 201 talked to 202 and joined the caller to them: the caller stays bridged, and a
    # blind transfer by 202 later is followed as well.
    call.transferred(Transfer("202", attended=True, uniqueid="b-2"))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not task.done()
    assert call.bridged
    assert call.takes_transfers
    call.transferred(Transfer("800"))
    await asyncio.wait_for(task, 1)
    assert transferring_menu == ["sales"]


async def test_the_launcher_lets_go_when_the_transferred_caller_hangs_up() -> None:
    call, task = await caller_put_through_to_201()
    call.transferred(Transfer("202", attended=True, uniqueid="b-2"))
    for _ in range(10):
        await asyncio.sleep(0)
    call.ended(HangupBy.CALLER)
    await asyncio.wait_for(task, 1)


async def test_a_transfer_to_a_menu_number_runs_that_menu(transferring_menu: list[str]) -> None:
    call, driver, _ = control()
    apps = Applications(Directory(), PromptLibrary([SHIPPED_PROMPTS]))  # type: ignore[arg-type]
    await asyncio.wait_for(apps.run(call, Destination(DestinationKind.IVR, "front")), 1)
    assert transferring_menu == ["front", "sales"]
    assert driver.bridges == []


async def test_a_transfer_to_nobodys_number_is_announced_and_ends(
    transferring_menu: list[str],
) -> None:
    call, driver, player = control()
    await call.answer()
    apps = Applications(Directory(), PromptLibrary([SHIPPED_PROMPTS]))  # type: ignore[arg-type]
    task = asyncio.create_task(apps.run(call, Destination(DestinationKind.IVR, "lost")))
    for _ in range(10):
        await asyncio.sleep(0)
    assert [clip.name for clip in player.playing] == ["not-available", "goodbye"]
    player.finish()
    await asyncio.wait_for(task, 1)
    assert driver.bridges == []


class Mailboxes:
    """Extension 201 has voicemail on, 202 off; nothing else is an extension."""

    async def mailbox(self, number: str) -> Mailbox | None:
        return Mailbox(number, enabled=number == "201") if number in ("201", "202") else None


@pytest.fixture
def messages_left(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """The launcher's leave_message, replaced: the mailboxes and busy flags it is asked for."""
    left: list[tuple[str, bool]] = []

    async def leave_message(call: CallControl, mailbox: str, *, busy: bool, **_: Any) -> None:
        left.append((mailbox, busy))

    monkeypatch.setattr(launcher_module, "leave_message", leave_message)
    return left


async def bridge_fails(
    number: str, result: BridgeResult, *, answered: bool = True, ended_first: bool = False
) -> tuple[CallControl, Player, asyncio.Task[None]]:
    """A caller the launcher puts through to extension ``number``, which fails with
    ``result`` (the call ended first if ``ended_first``); the launcher's run, left to go
    on from there."""
    call, driver, player = control()
    if answered:
        await call.answer()
    apps = Applications(
        Directory(),
        PromptLibrary([SHIPPED_PROMPTS]),
        voicemail=Mailboxes(),  # type: ignore[arg-type]
    )  # type: ignore[arg-type]
    task = asyncio.create_task(apps.run(call, Destination(DestinationKind.EXTENSION, number)))
    for _ in range(10):
        await asyncio.sleep(0)
    assert driver.result is not None
    if ended_first:
        call.ended(HangupBy.SYSTEM)
    driver.result.set_result(result)
    for _ in range(10):
        await asyncio.sleep(0)
    return call, player, task


BUSY = BridgeResult(False, 486, Disposition.BUSY, "busy")
NO_ANSWER = BridgeResult(False, 480, Disposition.NO_ANSWER, "no-answer")


@pytest.mark.parametrize(("result", "busy"), [(BUSY, True), (NO_ANSWER, False)])
async def test_an_extension_that_does_not_take_the_call_sends_it_to_its_mailbox(
    messages_left: list[tuple[str, bool]], result: BridgeResult, busy: bool
) -> None:
    _, _, task = await bridge_fails("201", result)
    await asyncio.wait_for(task, 1)
    assert messages_left == [("201", busy)]


async def test_without_voicemail_the_caller_hears_not_available(
    messages_left: list[tuple[str, bool]],
) -> None:
    _, player, task = await bridge_fails("202", BUSY)
    assert [clip.name for clip in player.playing] == ["not-available", "goodbye"]
    player.finish()
    await asyncio.wait_for(task, 1)
    assert messages_left == []


async def test_a_failure_no_mailbox_is_for_ends_as_before(
    messages_left: list[tuple[str, bool]],
) -> None:
    incompatible = BridgeResult(False, 488, Disposition.FAILED, "incompatible")
    _, player, task = await bridge_fails("201", incompatible)
    player.finish()
    await asyncio.wait_for(task, 1)
    assert messages_left == []


async def test_a_caller_not_answered_yet_goes_to_the_mailbox_the_call_core_left_it_for(
    messages_left: list[tuple[str, bool]],
) -> None:
    # Put through before answer (a time condition, a DID): the call core did not tell the
    # caller of the failure, since 201 has a mailbox.
    _, _, task = await bridge_fails("201", BUSY, answered=False)
    await asyncio.wait_for(task, 1)
    assert messages_left == [("201", True)]


async def test_a_caller_the_failure_ended_leaves_no_message(
    messages_left: list[tuple[str, bool]],
) -> None:
    # Without a mailbox the call core told the caller (486) and ended the call.
    call, _, task = await bridge_fails("201", BUSY, answered=False, ended_first=True)
    await asyncio.wait_for(task, 1)
    assert messages_left == []
    assert call.gone


async def test_without_a_destination_the_launcher_follows_a_caller_bridged_already(
    transferring_menu: list[str],
) -> None:
    # A call between two phones taken over for a transfer: the caller talks to 201 already.
    call, driver, _ = control()
    call.bridged = True
    apps = Applications(Directory(), PromptLibrary([SHIPPED_PROMPTS]))  # type: ignore[arg-type]
    task = asyncio.create_task(apps.run(call, None))
    for _ in range(10):
        await asyncio.sleep(0)
    assert call.takes_transfers
    assert driver.bridges == []
    call.transferred(Transfer("800"))  # 201 sends the caller on to menu 800
    await asyncio.wait_for(task, 1)
    assert transferring_menu == ["sales"]
