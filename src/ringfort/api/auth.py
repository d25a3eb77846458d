"""REST routes of logging in and of users: sessions, the caller's own account, users and
their API tokens, and the audit log (who may call them is `ringfort.api.access`'s rule).

Failed logins are limited per address and username (`LoginLimiter`), so a password
cannot be guessed at speed; each refusal is logged for the administrator.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ringfort.api.access import SESSION_COOKIE
from ringfort.errors import ValidationError
from ringfort.services.audit import AuditService
from ringfort.services.users import SESSION_HOURS, UserService, UserView

__all__ = ["LoginLimiter", "auth_routes"]

log = logging.getLogger(__name__)


class LoginLimiter:
    """At most ``per_name`` failed logins per address and username, and ``per_address`` per
    address, within ``window`` seconds; more are refused until the oldest ages out."""

    def __init__(self, *, per_name: int = 5, per_address: int = 20, window: float = 600.0) -> None:
        self._limits = (per_name, per_address)
        self._window = window
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def wait(self, address: str, username: str, now: float) -> float:
        """Seconds until this address may try this username again (0: now)."""
        waits = [
            self._wait(key, limit, now)
            for key, limit in zip(((address, username), (address, "")), self._limits, strict=True)
        ]
        return max(waits)

    def failed(self, address: str, username: str, now: float) -> None:
        """Count a failed login."""
        if len(self._failures) > 10_000:  # bounded, however many addresses try
            self._failures = {
                key: times
                for key, times in self._failures.items()
                if times and times[-1] > now - self._window
            }
        for key in ((address, username), (address, "")):
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, address: str, username: str) -> None:
        """A good login clears that username's failures from that address."""
        self._failures.pop((address, username), None)

    def _wait(self, key: tuple[str, str], limit: int, now: float) -> float:
        times = self._failures.get(key)
        if not times:
            return 0.0
        while times and times[0] <= now - self._window:
            times.popleft()
        if len(times) < limit:
            return 0.0
        return times[0] + self._window - now


class Login(BaseModel):
    """A username and password."""

    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class NewUser(BaseModel):
    """A user to create."""

    username: str = Field(description="1 to 64 of a-z, 0-9, '.', '_', '@' and '-'.")
    password: str = Field(description="At least 8 characters.", max_length=1024)
    role: str = Field(description="admin, supervisor or agent.")
    extension: str | None = Field(None, description="The user's own extension (phone, mailbox).")
    agent: str | None = Field(None, description="The call-centre agent they are (number).")
    language: str = Field("en", description="en or ru: the web interface's language.")
    queues: list[str] = Field(
        default_factory=list, description="A supervisor's queues; empty: every queue."
    )


class UserChange(BaseModel):
    """What to change of a user; what is left out stays."""

    role: str | None = None
    extension: str | None = None
    agent: str | None = None
    language: str | None = None
    disabled: bool | None = Field(None, description="A disabled user cannot log in.")
    queues: list[str] | None = Field(None, description="A supervisor's queues; []: every queue.")


class Password(BaseModel):
    """A new password (and, for one's own, the current one)."""

    password: str = Field(description="At least 8 characters.", max_length=1024)
    current: str | None = Field(None, description="Your current password (for your own).")


class TokenName(BaseModel):
    """What a new API token is for."""

    name: str = Field(description="What uses it, e.g. 'wallboard'.", max_length=80)


def _user(view: UserView) -> dict[str, Any]:
    found = asdict(view)
    found.pop("id")
    found["created_at"] = view.created_at.isoformat()
    found["queues"] = list(view.queues)
    return found


def auth_routes(
    users: UserService, audit: AuditService, limiter: LoginLimiter | None = None
) -> APIRouter:
    """``/api/v1/auth/...``, ``/api/v1/users/...`` and ``/api/v1/audit``."""
    router = APIRouter(tags=["users"])
    limits = limiter or LoginLimiter()

    @router.post("/api/v1/auth/login")
    async def login(body: Login, request: Request) -> JSONResponse:
        """Log in: sets the session cookie; the answer's ``csrf`` goes in the
        ``X-CSRF-Token`` header of every change made with the cookie."""
        address = request.client.host if request.client else ""
        username = body.username.strip().lower()
        now = time.monotonic()
        wait = limits.wait(address, username, now)
        if wait > 0:
            log.warning("login for %r from %s refused: too many failures", username, address)
            return JSONResponse(
                {"detail": f"too many failed logins; try again in {int(wait) + 1} s"},
                status_code=429,
                headers={"Retry-After": str(int(wait) + 1)},
            )
        user = await users.authenticate(username, body.password)
        if user is None:
            limits.failed(address, username, now)
            log.warning("failed login for %r from %s", username, address)
            return JSONResponse({"detail": "wrong username or password"}, status_code=401)
        limits.succeeded(address, username)
        opened = await users.open_session(user)
        log.info("%s logged in from %s", user.username, address)
        answer = JSONResponse({"user": _user(user), "csrf": opened.csrf})
        answer.set_cookie(
            SESSION_COOKIE,
            opened.token,
            max_age=SESSION_HOURS * 3600,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return answer

    @router.post("/api/v1/auth/logout", status_code=204)
    async def logout(request: Request) -> Response:
        """End the browser's session."""
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await users.close_session(token)
        answer = Response(status_code=204)
        answer.delete_cookie(SESSION_COOKIE, path="/")
        return answer

    @router.get("/api/v1/auth/me")
    async def me(request: Request) -> dict[str, Any]:
        """Who is logged in (and the session's CSRF token, for a page that lost it)."""
        user: UserView | None = getattr(request.state, "user", None)
        if user is None:
            return {"user": None, "first_start": True}
        return {"user": _user(user), "csrf": getattr(request.state, "csrf", None)}

    @router.put("/api/v1/auth/password", status_code=204)
    async def own_password(body: Password, request: Request) -> Response:
        """Change one's own password (the current one is needed)."""
        user: UserView | None = getattr(request.state, "user", None)
        if user is None:
            raise ValidationError("nobody is logged in", field="current")
        if body.current is None or await users.authenticate(user.username, body.current) is None:
            raise ValidationError("the current password is not right", field="current")
        await users.set_password(user.username, body.password)
        return Response(status_code=204)

    @router.get("/api/v1/users")
    async def all_users() -> list[dict[str, Any]]:
        """Every user."""
        return [_user(user) for user in await users.all()]

    @router.post("/api/v1/users", status_code=201)
    async def add(body: NewUser) -> dict[str, Any]:
        """Create a user."""
        return _user(
            await users.add(
                body.username,
                body.password,
                body.role,
                extension=body.extension,
                agent=body.agent,
                language=body.language,
                queues=body.queues,
            )
        )

    @router.get("/api/v1/users/{username}")
    async def one(username: str) -> dict[str, Any]:
        """One user."""
        return _user(await users.get(username))

    @router.patch("/api/v1/users/{username}")
    async def change(username: str, body: UserChange) -> dict[str, Any]:
        """Change a user's role, extension, language, or disable them."""
        return _user(await users.update(username, **body.model_dump()))

    @router.put("/api/v1/users/{username}/password", status_code=204)
    async def password(username: str, body: Password) -> Response:
        """Set a user's password (their browser sessions end)."""
        await users.set_password(username, body.password)
        return Response(status_code=204)

    @router.delete("/api/v1/users/{username}", status_code=204)
    async def remove(username: str) -> Response:
        """Delete a user, their sessions and tokens (not the last admin)."""
        await users.remove(username)
        return Response(status_code=204)

    @router.get("/api/v1/users/{username}/tokens")
    async def tokens(username: str) -> list[dict[str, Any]]:
        """A user's API tokens (never the tokens themselves)."""
        return [
            {"id": token_id, "name": name, "created_at": created, "last_used_at": used}
            for token_id, name, created, used in await users.tokens(username)
        ]

    @router.post("/api/v1/users/{username}/tokens", status_code=201)
    async def new_token(username: str, body: TokenName) -> dict[str, str]:
        """A new API token: shown this once, keep it safe."""
        return {"token": await users.create_token(username, body.name), "name": body.name}

    @router.delete("/api/v1/users/{username}/tokens/{token_id}", status_code=204)
    async def revoke(username: str, token_id: int) -> Response:
        """Revoke an API token."""
        await users.revoke_token(username, token_id)
        return Response(status_code=204)

    @router.get("/api/v1/audit")
    async def audit_log(
        limit: int = 50, offset: int = 0, username: str | None = None
    ) -> dict[str, Any]:
        """Changes made through the API, newest first."""
        if not 1 <= limit <= 1000:
            raise ValidationError("limit is 1 to 1000", field="limit")
        if offset < 0:
            raise ValidationError("offset is 0 or more", field="offset")
        entries, total = await audit.entries(limit=limit, offset=offset, username=username)
        return {
            "items": [asdict(entry) for entry in entries],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    return router
