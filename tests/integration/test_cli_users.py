"""Users against a real server: the first-start hint, the first admin made with the CLI,
logging in over HTTP with the session cookie and CSRF token, and an API token from the CLI."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.request
from typing import Any

from harness import ServerFactory
from peers import RingfortServer, wait_until

from ringfort.services.users import PROOF_SECONDS

PASSWORD = "a long admin password"


class Browser:
    """A client that keeps cookies, as a browser would."""

    def __init__(self, server: RingfortServer) -> None:
        self._base = server.http_url
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        request = urllib.request.Request(
            self._base + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
            method=method,
        )
        try:
            with self._opener.open(request, timeout=10) as reply:
                data = reply.read()
                return reply.status, json.loads(data) if data else None
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


def test_the_first_admin_logs_in_and_a_program_uses_a_token(
    ringfort_factory: ServerFactory,
) -> None:
    server = ringfort_factory(name="users")
    wait_until(lambda: "No users yet" in server.log(20), timeout=10, what="the first-start hint")
    anonymous = Browser(server)
    assert anonymous.call("GET", "/api/v1/users") == (200, [])  # this machine, no users yet

    made = server.cli("user", "add", "ann", "--role", "admin", "--password", PASSWORD)
    assert "user ann (admin) added" in made.stdout
    status, answer = anonymous.call("GET", "/api/v1/status")
    assert status == 401, answer
    assert "log in first" in answer["detail"]

    browser = Browser(server)
    status, answer = browser.call(
        "POST", "/api/v1/auth/login", {"username": "ann", "password": PASSWORD}
    )
    assert status == 200, answer
    csrf = answer["csrf"]
    assert browser.call("GET", "/api/v1/auth/me")[1]["user"]["username"] == "ann"
    status, answer = browser.call(
        "POST",
        "/api/v1/users",
        {"username": "sam", "password": PASSWORD, "role": "supervisor"},
        {"X-CSRF-Token": csrf},
    )
    assert status == 201, answer

    issued = server.cli("user", "token", "sam", "--name", "wallboard").stdout.strip()
    assert re.fullmatch(r"rft_[A-Za-z0-9_-]{40,}", issued), issued
    program = Browser(server)
    bearer = {"Authorization": f"Bearer {issued}"}
    assert program.call("GET", "/api/v1/status", headers=bearer)[0] == 200
    assert program.call("GET", "/api/v1/users", headers=bearer)[0] == 403

    listed = json.loads(server.cli("user", "list", "--json").stdout)
    assert [(u["username"], u["role"]) for u in listed] == [("ann", "admin"), ("sam", "supervisor")]
    refused = server.cli("user", "remove", "ann", check=False)
    assert refused.returncode == 2
    assert "last admin" in refused.stderr
    server.cli("user", "set", "sam", "--disable")
    # A change made by another process (the CLI) is seen within PROOF_SECONDS: the server
    # believes a token it checked for that long without asking the database again.
    wait_until(
        lambda: program.call("GET", "/api/v1/status", headers=bearer)[0] == 401,
        timeout=PROOF_SECONDS + 2.0,
        what="the disabled user's token refused",
    )

    status, log = browser.call("GET", "/api/v1/audit")
    assert status == 200
    assert [(e["username"], e["method"], e["path"]) for e in log["items"]] == [
        ("ann", "POST", "/api/v1/users")
    ]
