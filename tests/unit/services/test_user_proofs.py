"""Checked API tokens and session cookies are believed for a few seconds without asking the
database; changes made in the same process take effect at once."""

from __future__ import annotations

import pytest

from ringfort.services.database import Database
from ringfort.services.users import PROOF_SECONDS, UserService

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def users(db: Database, clock: Clock) -> UserService:
    service = UserService(db, clock=clock)
    await service.add("ann", PASSWORD, "admin")
    await service.add("sam", PASSWORD, "supervisor")
    return service


async def test_another_process_revoking_a_token_is_seen_within_the_proof_time(
    db: Database, users: UserService, clock: Clock
) -> None:
    token = await users.create_token("sam", "panel")
    assert (await users.token_user(token)) is not None
    cli = UserService(db)  # the CLI: another process, another memory
    ((token_id, *_),) = await cli.tokens("sam")
    await cli.revoke_token("sam", token_id)

    clock.now += PROOF_SECONDS - 0.5
    assert (await users.token_user(token)) is not None  # still believed, no query
    clock.now += 0.5
    assert (await users.token_user(token)) is None


async def test_changes_in_this_process_take_effect_at_once(
    users: UserService,
) -> None:
    token = await users.create_token("sam", "panel")
    opened = await users.open_session(await users.get("sam"))
    assert (await users.token_user(token)) is not None
    assert (await users.session_user(opened.token)) is not None

    await users.update("sam", disabled=True)
    assert (await users.token_user(token)) is None
    assert (await users.session_user(opened.token)) is None

    await users.update("sam", disabled=False)
    assert (await users.token_user(token)) is not None
    ((token_id, *_),) = await users.tokens("sam")
    await users.revoke_token("sam", token_id)
    assert (await users.token_user(token)) is None


async def test_a_role_change_is_seen_by_the_next_request(users: UserService) -> None:
    token = await users.create_token("sam", "panel")
    seen = await users.token_user(token)
    assert seen is not None
    assert seen.role == "supervisor"
    await users.update("sam", role="agent")
    seen = await users.token_user(token)
    assert seen is not None
    assert seen.role == "agent"


async def test_logging_out_ends_the_session_at_once(users: UserService) -> None:
    opened = await users.open_session(await users.get("ann"))
    found = await users.session_user(opened.token)
    assert found is not None
    assert found[1] == opened.csrf
    await users.close_session(opened.token)
    assert (await users.session_user(opened.token)) is None


async def test_a_token_is_not_a_session_and_a_session_is_not_a_token(
    users: UserService,
) -> None:
    token = await users.create_token("ann", "panel")
    opened = await users.open_session(await users.get("ann"))
    assert (await users.token_user(token)) is not None
    assert (await users.session_user(opened.token)) is not None
    assert (await users.session_user(token)) is None
    assert (await users.token_user(opened.token)) is None
