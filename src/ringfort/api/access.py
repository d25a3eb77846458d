"""Who may call what: logging in, roles, CSRF, and the audit log of changes.

One ASGI middleware in front of every route, so a new router is guarded (admins only)
without doing anything, and the rules are read in one place:

- open to anyone: the health probes, ``/metrics``, the API's documentation and the
  login itself;
- any logged-in user: ``/api/v1/auth/...`` (who am I, log out, my password) and
  ``/api/v1/me/...`` (their own queues, pauses, calls and voicemail);
- supervisors (and admins): the live state, reports, CDRs, recordings, calls and the
  queues' and agents' lists, and logging agents in and out of queues and pausing them;
  a supervisor given some queues (``ringfort user add ... --queues a,b``) sees and acts
  on those only (`require_queue`, `scope_of`; the lists of every call are closed to them);
- admins: everything else, users and the audit log included.

A caller proves who they are with the session cookie a login sets (then every change
also needs the ``X-CSRF-Token`` header the login returned: a page on another site
cannot read it) or with ``Authorization: Bearer <token>``. Until the first user
exists (``ringfort user add --role admin``), requests from the server's own machine
are let in, so a fresh system can be set up; others are told how to start.

Every change that succeeds (``POST``, ``PUT``, ``PATCH``, ``DELETE``) is written to
the audit log with the user, their address, the object as it was before (read with a
``GET`` of the same path) and what the change returned.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

from fastapi import HTTPException, Request

from ringfort.services.audit import AuditService
from ringfort.services.users import UserService, UserView

__all__ = [
    "RULES",
    "SESSION_COOKIE",
    "AccessMiddleware",
    "Rule",
    "require_queue",
    "rule_for",
    "scope_of",
]

log = logging.getLogger(__name__)

SESSION_COOKIE = "ringfort_session"
CSRF_HEADER = "x-csrf-token"
ALL = frozenset({"admin", "supervisor", "agent"})
STAFF = frozenset({"admin", "supervisor"})
ADMIN = frozenset({"admin"})
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_READ = frozenset({"GET", "HEAD"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Rule:
    """Requests whose path matches ``pattern`` (and method is in ``methods``, if given) are
    for ``roles``; None: for anyone, logged in or not."""

    pattern: re.Pattern[str]
    roles: frozenset[str] | None
    methods: frozenset[str] | None = None


def _rule(
    pattern: str, roles: frozenset[str] | None, methods: frozenset[str] | None = None
) -> Rule:
    return Rule(re.compile(pattern), roles, methods)


RULES: tuple[Rule, ...] = (
    _rule(r"/(healthz|readyz|metrics)$", None),
    _rule(r"/api/(docs|docs/.*|v1/openapi\.json)$", None),
    _rule(r"/api/v1/auth/login$", None),
    _rule(r"/api/v1/(auth|me)(/.*)?$", ALL),
    _rule(r"/api/v1/(users|audit)(/.*)?$", ADMIN),
    _rule(r"/api/v1/queues/[^/]+/agents/[^/]+$", STAFF, frozenset({"PUT", "DELETE"})),
    _rule(r"/api/v1/agents/[^/]+/(pause|unpause)$", STAFF, frozenset({"POST"})),
    _rule(
        r"/api/v1/(live|reports|queue-log|status|queues|agents|cdr|recordings|calls)(/.*)?$",
        STAFF,
        _READ,
    ),
    _rule(r"/api(/.*)?$", ADMIN),
)
"""First match wins; a path no rule matches (not the API) is not guarded here."""


def rule_for(method: str, path: str) -> Rule | None:
    """The rule a request falls under; None for a path not guarded here (not the API)."""
    for rule in RULES:
        if rule.pattern.match(path) and (rule.methods is None or method in rule.methods):
            return rule
    return None


_BEYOND_SCOPE = re.compile(r"/api/v1/(cdr|calls|recordings)/?$")
"""Lists of every call: not for a supervisor limited to some queues (their calls are in
their queues' reports, whose recordings they can play)."""


def scope_of(request: Request) -> frozenset[str] | None:
    """The queues the caller may see and act on; None: every queue."""
    user: UserView | None = getattr(request.state, "user", None)
    return None if user is None else user.scope


def require_queue(request: Request, queue: str | None, what: str) -> None:
    """403 unless ``queue`` is one of the caller's (a supervisor limited to some queues must
    name one of them)."""
    scope = scope_of(request)
    if scope is None or (queue is not None and queue in scope):
        return
    yours = ", ".join(sorted(scope))
    if queue is None:
        raise HTTPException(403, f"{what}: name one of your queues ({yours})")
    raise HTTPException(403, f"{what}: queue {queue} is not one of yours ({yours})")


class AccessMiddleware:
    """Guards the API with the `RULES` and writes the audit log (see the module's text)."""

    def __init__(self, app: App, *, users: UserService, audit: AuditService) -> None:
        self._app = app
        self._users = users
        self._audit = audit
        self._has_users = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        method = scope["method"]
        path = scope["path"]
        rule = rule_for(method, path)
        roles = rule.roles if rule is not None else None
        if roles is None:
            await self._app(scope, receive, send)
            return
        headers = _headers(scope)
        who = await self._identify(scope, headers)
        if isinstance(who, _Refusal):
            await _answer(send, who.status, who.detail, who.extra)
            return
        user, csrf = who
        if user is not None and user.role not in roles:
            await _answer(
                send,
                403,
                f"a {user.role} may not {method} {path}; ask an admin if you need to",
            )
            return
        if user is not None and user.scope is not None and _BEYOND_SCOPE.match(path):
            await _answer(
                send,
                403,
                f"your user sees only its queues ({', '.join(sorted(user.scope))}): find their"
                " calls and recordings in their reports",
            )
            return
        if csrf is not None and method in _UNSAFE and headers.get(CSRF_HEADER) != csrf:
            await _answer(
                send,
                403,
                "missing or wrong X-CSRF-Token header: send the csrf value the login returned",
            )
            return
        state = scope.setdefault("state", {})
        state["user"] = user
        state["csrf"] = csrf
        if method not in _UNSAFE or path in ("/api/v1/auth/login", "/api/v1/auth/logout"):
            await self._app(scope, receive, send)
            return
        await self._audited(scope, receive, send, user)

    async def _identify(
        self, scope: Scope, headers: dict[str, str]
    ) -> tuple[UserView | None, str | None] | _Refusal:
        """The user and (for a cookie) the session's CSRF token; (None, None) in the first
        start's open mode; a refusal otherwise."""
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            user = await self._users.token_user(authorization[7:].strip())
            if user is None:
                return _Refusal(401, "the API token is not valid (revoked, or its user disabled)")
            return user, None
        token = _cookie(headers.get("cookie", ""))
        if token:
            found = await self._users.session_user(token)
            if found is not None:
                return found
        if not self._has_users:
            self._has_users = await self._users.count() > 0
            if not self._has_users:
                if _loopback(scope):
                    return None, None
                return _Refusal(
                    401,
                    "no users yet: on the server, run `ringfort user add NAME --role admin`,"
                    " then log in",
                )
        return _Refusal(
            401,
            "log in first (POST /api/v1/auth/login) or send Authorization: Bearer <token>"
            if not token
            else "your session has ended: log in again",
            {"www-authenticate": "Bearer"},
        )

    async def _audited(
        self, scope: Scope, receive: Receive, send: Send, user: UserView | None
    ) -> None:
        method = scope["method"]
        before = await self._read(scope) if method != "POST" else None
        answer = _Answer(forward=send)
        await self._app(scope, receive, answer)
        status = answer.status
        if not 200 <= status < 400:
            return
        after = _json_text(bytes(answer.body)) if method != "DELETE" else None
        client = scope.get("client")
        try:
            await self._audit.record(
                username=user.username if user is not None else "(first start)",
                source=str(client[0]) if client else "",
                method=method,
                path=scope["path"],
                status=status,
                before=before,
                after=after,
            )
        except Exception:  # the change is made; a lost audit line must not fail it
            log.exception("could not write the audit log for %s %s", method, scope["path"])

    async def _read(self, scope: Scope) -> str | None:
        """The object at the request's path before the change: a GET of it, or None."""
        sub = dict(scope)
        sub.update(method="GET", query_string=b"", state=dict(scope.get("state", {})))
        answer = _Answer()

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        try:
            await self._app(sub, receive, answer)
        except Exception:  # a path that cannot be read has no "before"
            log.debug("no readable object at %s", scope["path"], exc_info=True)
            return None
        return _json_text(bytes(answer.body)) if answer.status == 200 else None


_MAX_AUDITED = 200_000


class _Answer:
    """An ASGI ``send`` that keeps the status and (up to `_MAX_AUDITED` octets of) the body
    of what the app answers, passing each message on to ``forward`` if given."""

    def __init__(self, forward: Send | None = None) -> None:
        self.status = 0
        self.body = bytearray()
        self._forward = forward

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body" and len(self.body) < _MAX_AUDITED:
            self.body.extend(message.get("body", b""))
        if self._forward is not None:
            await self._forward(message)


@dataclass(frozen=True, slots=True)
class _Refusal:
    status: int
    detail: str
    extra: dict[str, str] | None = None


def _headers(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
    }


def _cookie(header: str) -> str | None:
    if SESSION_COOKIE not in header:
        return None
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(header)
    except Exception:  # a malformed Cookie header is no session
        return None
    morsel = cookies.get(SESSION_COOKIE)
    return morsel.value if morsel is not None else None


def _loopback(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


def _json_text(body: bytes) -> str | None:
    if not body:
        return None
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return None


async def _answer(
    send: Send, status: int, detail: str, extra: dict[str, str] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(name.encode(), value.encode()) for name, value in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
