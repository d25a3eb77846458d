"""Logging in, roles, CSRF, API tokens, the login limit and the audit log, over HTTP against a
real database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from ringfort.api.access import rule_for
from ringfort.api.app import create_app
from ringfort.services.audit import AuditService
from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService
from ringfort.services.status import StatusService
from ringfort.services.users import UserService
from ringfort.services.voicemail import VoicemailService

ADMIN_PASSWORD = "correct horse battery"


def app_for(db: Database, tmp_path: Path) -> object:
    return create_app(
        status=StatusService(db=db),
        sip_ready=lambda: True,
        db=db,
        voicemail=VoicemailService(db, tmp_path / "voicemail"),
        users=UserService(db),
        audit=AuditService(db),
    )


@pytest.fixture
async def app(db: Database, tmp_path: Path) -> object:
    await ExtensionService(db=db).add("101", name="Desk", password="secret-pass-1")
    return app_for(db, tmp_path)


def client_of(app: object, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://ringfort.test")


@pytest.fixture
async def local(app: object) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app) as http:
        yield http


async def login(http: httpx.AsyncClient, username: str, password: str) -> str:
    """Log in; the CSRF token (the session cookie stays in the client)."""
    answer = await http.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert answer.status_code == 200, answer.text
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    return str(answer.json()["csrf"])


async def make_users(app: object) -> None:
    """The first admin (made in the open first-start mode), who then adds a supervisor and
    an agent."""
    async with client_of(app) as http:
        made = await http.post(
            "/api/v1/users",
            json={"username": "ann", "password": ADMIN_PASSWORD, "role": "admin"},
        )
        assert made.status_code == 201, made.text
        csrf = await login(http, "ann", ADMIN_PASSWORD)
        for name, role in (("sam", "supervisor"), ("ada", "agent")):
            made = await http.post(
                "/api/v1/users",
                json={"username": name, "password": ADMIN_PASSWORD, "role": role},
                headers={"X-CSRF-Token": csrf},
            )
            assert made.status_code == 201, made.text


def test_the_rules_put_each_path_with_its_roles() -> None:
    def roles(method: str, path: str) -> set[str] | str | None:
        rule = rule_for(method, path)
        return "unguarded" if rule is None else (None if rule.roles is None else set(rule.roles))

    assert roles("GET", "/healthz") is None
    assert roles("GET", "/metrics") is None
    assert roles("POST", "/api/v1/auth/login") is None
    assert roles("GET", "/api/v1/auth/me") == {"admin", "supervisor", "agent"}
    assert roles("GET", "/api/v1/reports/answered") == {"admin", "supervisor"}
    assert roles("PUT", "/api/v1/queues/sales/agents/1") == {"admin", "supervisor"}
    assert roles("POST", "/api/v1/queues") == {"admin"}
    assert roles("POST", "/api/v1/extensions") == {"admin"}
    assert roles("GET", "/api/v1/users") == {"admin"}
    assert roles("GET", "/api/v1/voicemail/messages") == {"admin"}
    assert roles("GET", "/") == "unguarded"


async def test_a_fresh_system_is_open_to_its_own_machine_only(app: object) -> None:
    async with client_of(app, "203.0.113.9") as remote:
        refused = await remote.get("/api/v1/users")
        assert refused.status_code == 401
        assert "ringfort user add NAME --role admin" in refused.json()["detail"]
        assert (await remote.get("/healthz")).status_code == 200
    async with client_of(app) as local:
        assert (await local.get("/api/v1/users")).json() == []
        assert (await local.get("/api/v1/auth/me")).json()["first_start"] is True
        await make_users(app)
        # With a user, the open mode is over, even here.
        closed = await local.get("/api/v1/users")
        assert closed.status_code == 401
        assert "log in first" in closed.json()["detail"]
        assert closed.headers["www-authenticate"] == "Bearer"


async def test_a_session_needs_its_csrf_token_for_changes(
    local: httpx.AsyncClient, app: object
) -> None:
    await make_users(app)
    wrong = await local.post("/api/v1/auth/login", json={"username": "ann", "password": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "wrong username or password"
    csrf = await login(local, "ann", ADMIN_PASSWORD)
    me = (await local.get("/api/v1/auth/me")).json()
    assert (me["user"]["username"], me["user"]["role"], me["csrf"]) == ("ann", "admin", csrf)
    body = {"username": "bob", "password": "long enough 1", "role": "agent"}
    forged = await local.post("/api/v1/users", json=body)
    assert forged.status_code == 403
    assert "X-CSRF-Token" in forged.json()["detail"]
    made = await local.post("/api/v1/users", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    assert made.json()["role"] == "agent"
    assert "password" not in json.dumps(made.json())

    bad = await local.post(
        "/api/v1/users",
        json={"username": "Bad Name", "password": "x", "role": "boss"},
        headers={"X-CSRF-Token": csrf},
    )
    assert bad.status_code == 400
    assert bad.json()["field"] == "username"

    logout = await local.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert logout.status_code == 204
    assert (await local.get("/api/v1/users")).status_code == 401


async def test_each_role_reaches_only_its_part(local: httpx.AsyncClient, app: object) -> None:
    await make_users(app)
    async with client_of(app) as supervisor:
        csrf = await login(supervisor, "sam", ADMIN_PASSWORD)
        headers = {"X-CSRF-Token": csrf}
        assert (await supervisor.get("/api/v1/reports")).status_code == 200
        assert (await supervisor.get("/api/v1/status")).status_code == 200
        made = await supervisor.post(
            "/api/v1/users",
            json={"username": "eve", "password": "long enough 1", "role": "admin"},
            headers=headers,
        )
        assert made.status_code == 403
        assert made.json()["detail"].startswith("a supervisor may not POST /api/v1/users")
        switched = await supervisor.put(
            "/api/v1/voicemail/mailboxes/101", json={"enabled": True}, headers=headers
        )
        assert switched.status_code == 403
        extension = await supervisor.post(
            "/api/v1/extensions", json={"number": "150", "name": "New"}, headers=headers
        )
        assert extension.status_code == 403
        assert (await supervisor.get("/api/v1/extensions")).status_code == 403
    async with client_of(app) as agent:
        await login(agent, "ada", ADMIN_PASSWORD)
        assert (await agent.get("/api/v1/auth/me")).status_code == 200
        assert (await agent.get("/api/v1/reports")).status_code == 403
        assert (await agent.get("/api/v1/voicemail/messages")).status_code == 403
        # Recordings and call records are the supervisors' (an agent has their own calls
        # at /api/v1/me/calls).
        assert (await agent.get("/api/v1/recordings")).status_code == 403
        assert (await agent.get("/api/v1/recordings/any/audio")).status_code == 403
        assert (await agent.get("/api/v1/cdr")).status_code == 403


async def test_a_program_uses_a_token_until_it_is_revoked(
    local: httpx.AsyncClient, app: object
) -> None:
    await make_users(app)
    csrf = await login(local, "ann", ADMIN_PASSWORD)
    headers = {"X-CSRF-Token": csrf}
    made = await local.post("/api/v1/users/sam/tokens", json={"name": "wallboard"}, headers=headers)
    assert made.status_code == 201
    token = made.json()["token"]
    async with client_of(app, "198.51.100.7") as program:
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await program.get("/api/v1/reports", headers=bearer)).status_code == 200
        assert (await program.get("/api/v1/users", headers=bearer)).status_code == 403
        (listed,) = (await local.get("/api/v1/users/sam/tokens")).json()
        assert listed["name"] == "wallboard"
        assert listed["last_used_at"] is not None
        assert token not in json.dumps(listed)
        revoked = await local.delete(f"/api/v1/users/sam/tokens/{listed['id']}", headers=headers)
        assert revoked.status_code == 204
        after = await program.get("/api/v1/reports", headers=bearer)
        assert after.status_code == 401
        fake = {"Authorization": "Bearer rft_guess"}
        assert (await program.get("/api/v1/reports", headers=fake)).status_code == 401


async def test_a_tokens_last_use_is_kept_to_the_minute(
    local: httpx.AsyncClient, app: object
) -> None:
    """Not a database write on every request: the second use within a minute stores nothing."""
    await make_users(app)
    csrf = await login(local, "ann", ADMIN_PASSWORD)
    made = await local.post(
        "/api/v1/users/sam/tokens", json={"name": "panel"}, headers={"X-CSRF-Token": csrf}
    )
    bearer = {"Authorization": f"Bearer {made.json()['token']}"}
    async with client_of(app, "198.51.100.7") as program:
        assert (await program.get("/api/v1/reports", headers=bearer)).status_code == 200
        (first,) = (await local.get("/api/v1/users/sam/tokens")).json()
        assert (await program.get("/api/v1/reports", headers=bearer)).status_code == 200
        (second,) = (await local.get("/api/v1/users/sam/tokens")).json()
    assert first["last_used_at"] is not None
    assert second["last_used_at"] == first["last_used_at"]


async def test_failed_logins_are_limited(local: httpx.AsyncClient, app: object) -> None:
    await make_users(app)
    for _ in range(5):
        wrong = await local.post(
            "/api/v1/auth/login", json={"username": "ann", "password": "guess"}
        )
        assert wrong.status_code == 401
    limited = await local.post(
        "/api/v1/auth/login", json={"username": "ann", "password": ADMIN_PASSWORD}
    )
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    # Another user from the same address still may (until the address's own limit).
    await login(local, "sam", ADMIN_PASSWORD)


async def test_every_change_is_in_the_audit_log_with_before_and_after(
    local: httpx.AsyncClient, app: object
) -> None:
    await make_users(app)
    csrf = await login(local, "ann", ADMIN_PASSWORD)
    headers = {"X-CSRF-Token": csrf}
    changed = await local.patch("/api/v1/users/sam", json={"role": "agent"}, headers=headers)
    assert changed.json()["role"] == "agent"
    switched = await local.put(
        "/api/v1/voicemail/mailboxes/101", json={"enabled": True}, headers=headers
    )
    assert switched.status_code == 200
    last_admin = await local.delete("/api/v1/users/ann", headers=headers)
    assert last_admin.status_code == 409
    assert "last admin" in last_admin.json()["detail"]

    log = (await local.get("/api/v1/audit")).json()
    assert log["total"] == 5  # three users made (one at first start), the role, the switch
    newest, role_change = log["items"][0], log["items"][1]
    assert (newest["method"], newest["path"]) == ("PUT", "/api/v1/voicemail/mailboxes/101")
    assert json.loads(newest["after"]) == {"mailbox": "101", "enabled": True}
    assert (role_change["username"], role_change["method"]) == ("ann", "PATCH")
    assert json.loads(role_change["before"])["role"] == "supervisor"
    assert json.loads(role_change["after"])["role"] == "agent"
    first = log["items"][-1]
    assert (first["username"], first["path"], first["before"]) == (
        "(first start)",
        "/api/v1/users",
        None,
    )
    assert first["source"] == "127.0.0.1"


async def test_a_disabled_user_is_logged_out(local: httpx.AsyncClient, app: object) -> None:
    await make_users(app)
    async with client_of(app) as sam:
        await login(sam, "sam", ADMIN_PASSWORD)
        assert (await sam.get("/api/v1/reports")).status_code == 200
        csrf = await login(local, "ann", ADMIN_PASSWORD)
        disabled = await local.patch(
            "/api/v1/users/sam", json={"disabled": True}, headers={"X-CSRF-Token": csrf}
        )
        assert disabled.json()["disabled"] is True
        assert (await sam.get("/api/v1/reports")).status_code == 401
        again = await sam.post(
            "/api/v1/auth/login", json={"username": "sam", "password": ADMIN_PASSWORD}
        )
        assert again.status_code == 401


async def test_a_supervisor_of_some_queues_sees_and_acts_on_those_only(
    local: httpx.AsyncClient, app: object, db: Database
) -> None:
    await make_users(app)
    await UserService(db).add("sue", ADMIN_PASSWORD, "supervisor", queues=["help"])
    async with client_of(app) as sue:
        csrf = await login(sue, "sue", ADMIN_PASSWORD)
        headers = {"X-CSRF-Token": csrf}
        me = (await sue.get("/api/v1/auth/me")).json()["user"]
        assert me["queues"] == ["help"]
        whole = await sue.get("/api/v1/reports/answered")
        assert whole.status_code == 403
        assert whole.json()["detail"] == "reports: name one of your queues (help)"
        other = await sue.get("/api/v1/reports/answered?queue=sales")
        assert "queue sales is not one of yours" in other.json()["detail"]
        assert (await sue.get("/api/v1/reports/answered?queue=help")).status_code == 200
        moved = await sue.put(
            "/api/v1/queues/sales/agents/11", json={"phone": "101"}, headers=headers
        )
        assert moved.status_code == 403
        paused = await sue.post("/api/v1/agents/11/pause", json={"reason": "x"}, headers=headers)
        assert paused.status_code == 403  # every queue of the agent: name yours
        for path in ("/api/v1/cdr", "/api/v1/recordings", "/api/v1/calls"):
            closed = await sue.get(path)
            assert closed.status_code == 403, path
            assert "sees only its queues (help)" in closed.json()["detail"]
    # A supervisor without queues sees everything, as before.
    async with client_of(app) as sam:
        await login(sam, "sam", ADMIN_PASSWORD)
        assert (await sam.get("/api/v1/reports/answered")).status_code == 200
        assert (await sam.get("/api/v1/cdr")).status_code == 200
