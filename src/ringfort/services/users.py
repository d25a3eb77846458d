"""Users of the web interface and the API: passwords, roles, API tokens and browser sessions.

Passwords are hashed with argon2id (the argon2-cffi defaults, RFC 9106's second
recommended profile). API tokens and session cookies are random 32-octet values
shown once; only their SHA-256 is stored, so a copy of the database opens nothing.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ringfort.db.models import USER_ROLES, ApiToken, User, WebSession
from ringfort.errors import ConflictError, NotFoundError, ValidationError
from ringfort.pbx.destination import is_name
from ringfort.services.database import Database

__all__ = ["ROLES", "SessionView", "UserService", "UserView"]

ROLES = USER_ROLES
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
MIN_PASSWORD = 8
SESSION_HOURS = 12
TOKEN_PREFIX = "rft_"  # noqa: S105 - a marker that tells tokens apart, not a secret
TOKEN_USE_RESOLUTION = timedelta(minutes=1)
"""How precisely an API token's time of last use is kept."""
PROOF_SECONDS = 5.0
"""How long a checked API token or session cookie is believed without asking the database
again. A change through the API (revoking, disabling, logging out) takes effect at once in
this process; one made by another process (the CLI) within this time."""
PROOFS_KEPT = 10_000
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verifying against this when the user does not exist costs what a real check costs,
    so the answer's timing does not tell which usernames exist. Made on first use: a
    hash takes some 0.2 s, which every CLI command would pay at import otherwise."""
    return _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True, slots=True)
class UserView:
    """A user as the CLI and the API show it (never the password's hash)."""

    id: int
    username: str
    role: str
    extension: str | None
    agent: str | None
    language: str
    disabled: bool
    created_at: datetime
    queues: tuple[str, ...] = ()
    """A supervisor's queues; empty: every queue."""

    @property
    def scope(self) -> frozenset[str] | None:
        """The queues this user may see and act on; None: all of them."""
        if self.role == "supervisor" and self.queues:
            return frozenset(self.queues)
        return None


@dataclass(frozen=True, slots=True)
class SessionView:
    """A browser session just opened: the cookie's value and the CSRF token for forms."""

    token: str
    csrf: str
    expires_at: datetime
    user: UserView


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _view(user: User) -> UserView:
    return UserView(
        user.id,
        user.username,
        user.role,
        user.extension,
        user.agent,
        user.language,
        user.disabled,
        user.created_at,
        tuple(name for name in (user.queues or "").split(",") if name),
    )


class UserService:
    """Users, and proving who is calling the API."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._clock = clock
        # digest of a token or cookie -> (when checked, what it proved): the live panel
        # polls many times a second, and a database round trip per request was most of
        # each request's work.
        self._proofs: dict[str, tuple[float, UserView, str | None, datetime | None]] = {}

    def _proven(self, digest: str) -> tuple[UserView, str | None] | None:
        """The user and (for a session) the CSRF token a credential proved, while believed."""
        found = self._proofs.get(digest)
        if found is None:
            return None
        checked, user, csrf, expires = found
        if self._clock() - checked >= PROOF_SECONDS or (
            expires is not None and expires <= datetime.now(UTC)
        ):
            del self._proofs[digest]
            return None
        return user, csrf

    def _prove(
        self, digest: str, user: UserView, csrf: str | None = None, expires: datetime | None = None
    ) -> None:
        if len(self._proofs) >= PROOFS_KEPT:
            self._proofs.clear()
        self._proofs[digest] = (self._clock(), user, csrf, expires)

    def _forget_proofs(self) -> None:
        """After a change to users, tokens or sessions: check every credential again."""
        self._proofs.clear()

    # -- managing users -------------------------------------------------------------------------

    async def add(
        self,
        username: str,
        password: str,
        role: str,
        *,
        extension: str | None = None,
        agent: str | None = None,
        language: str = "en",
        queues: Sequence[str] = (),
    ) -> UserView:
        """Create a user; ValidationError naming the field for a bad value, ConflictError if
        the name is taken."""
        username = _check_username(username)
        _check_role(role)
        _check_password(password)
        if language not in ("en", "ru"):
            raise ValidationError("language is en or ru", field="language")
        hashed = await asyncio.to_thread(_hasher.hash, password)
        async with self._db.session() as session, session.begin():
            if await session.scalar(select(User.id).where(User.username == username)):
                raise ConflictError(f"user {username!r} exists already")
            user = User(
                username=username,
                password_hash=hashed,
                role=role,
                extension=extension or None,
                agent=agent or None,
                language=language,
                queues=_queue_list(queues),
            )
            session.add(user)
            await session.flush()
            return _view(user)

    async def all(self) -> list[UserView]:
        """Every user, by name."""
        async with self._db.session() as session:
            users = (await session.scalars(select(User).order_by(User.username))).all()
        return [_view(user) for user in users]

    async def count(self) -> int:
        """How many users there are (none: the API is in its first-start mode)."""
        async with self._db.session() as session:
            return int(await session.scalar(select(func.count(User.id))) or 0)

    async def get(self, username: str) -> UserView:
        """One user; NotFoundError naming them."""
        async with self._db.session() as session:
            return _view(await _user(session, username))

    async def update(
        self,
        username: str,
        *,
        role: str | None = None,
        extension: str | None = None,
        agent: str | None = None,
        language: str | None = None,
        disabled: bool | None = None,
        queues: Sequence[str] | None = None,
    ) -> UserView:
        """Change what is given; a disabled user's sessions and tokens stop working."""
        if role is not None:
            _check_role(role)
        if language is not None and language not in ("en", "ru"):
            raise ValidationError("language is en or ru", field="language")
        async with self._db.session() as session, session.begin():
            user = await _user(session, username)
            if role is not None:
                await _keep_an_admin(session, user, losing=role != "admin")
                user.role = role
            if extension is not None:
                user.extension = extension or None
            if agent is not None:
                user.agent = agent or None
            if queues is not None:
                user.queues = _queue_list(queues)
            if language is not None:
                user.language = language
            if disabled is not None:
                if disabled:
                    await _keep_an_admin(session, user, losing=True)
                user.disabled = disabled
            await session.flush()
            view = _view(user)
        self._forget_proofs()
        return view

    async def set_password(self, username: str, password: str) -> None:
        """Change a password; the user's browser sessions end (tokens stay)."""
        _check_password(password)
        hashed = await asyncio.to_thread(_hasher.hash, password)
        async with self._db.session() as session, session.begin():
            user = await _user(session, username)
            user.password_hash = hashed
            await session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        self._forget_proofs()

    async def remove(self, username: str) -> None:
        """Delete a user with their sessions and tokens; the last admin stays."""
        async with self._db.session() as session, session.begin():
            user = await _user(session, username)
            await _keep_an_admin(session, user, losing=True)
            for table in (WebSession, ApiToken):
                await session.execute(delete(table).where(table.user_id == user.id))
            await session.delete(user)
        self._forget_proofs()

    # -- proving who calls ------------------------------------------------------------------------

    async def authenticate(self, username: str, password: str) -> UserView | None:
        """The user if the password is theirs (and they are not disabled); None otherwise."""
        async with self._db.session() as session:
            user = await session.scalar(select(User).where(User.username == username.lower()))
        hashed = user.password_hash if user is not None else await asyncio.to_thread(_dummy_hash)
        try:
            await asyncio.to_thread(_hasher.verify, hashed, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or user.disabled:
            return None
        if _hasher.check_needs_rehash(hashed):
            await self.set_password(user.username, password)
        return _view(user)

    async def open_session(self, user: UserView) -> SessionView:
        """A new browser session for ``user``."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        now = datetime.now(UTC)
        expires = now + timedelta(hours=SESSION_HOURS)
        async with self._db.session() as session, session.begin():
            await session.execute(delete(WebSession).where(WebSession.expires_at < now))
            session.add(
                WebSession(user_id=user.id, digest=_digest(token), csrf=csrf, expires_at=expires)
            )
        return SessionView(token, csrf, expires, user)

    async def session_user(self, token: str) -> tuple[UserView, str] | None:
        """The user of a session cookie and the session's CSRF token; None if it is unknown,
        expired, or its user is disabled."""
        digest = _digest(token)
        proven = self._proven(digest)
        if proven is not None and proven[1] is not None:
            return proven[0], proven[1]
        async with self._db.session() as session:
            row = (
                await session.execute(
                    select(User, WebSession.csrf, WebSession.expires_at)
                    .join(WebSession, WebSession.user_id == User.id)
                    .where(
                        WebSession.digest == digest,
                        WebSession.expires_at > datetime.now(UTC),
                    )
                )
            ).first()
        if row is None or row[0].disabled:
            return None
        view = _view(row[0])
        self._prove(digest, view, row[1], row[2])
        return view, row[1]

    async def close_session(self, token: str) -> None:
        """Log a browser out."""
        async with self._db.session() as session, session.begin():
            await session.execute(delete(WebSession).where(WebSession.digest == _digest(token)))
        self._forget_proofs()

    async def create_token(self, username: str, name: str) -> str:
        """A new API token for ``username``: returned once, stored only as its digest."""
        if not name.strip():
            raise ValidationError("a token needs a name (what uses it)", field="name")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self._db.session() as session, session.begin():
            user = await _user(session, username)
            session.add(ApiToken(user_id=user.id, name=name.strip()[:80], digest=_digest(token)))
        return token

    async def tokens(self, username: str) -> list[tuple[int, str, datetime, datetime | None]]:
        """A user's tokens: id, name, created, last used."""
        async with self._db.session() as session:
            user = await _user(session, username)
            rows = (
                await session.execute(
                    select(ApiToken.id, ApiToken.name, ApiToken.created_at, ApiToken.last_used_at)
                    .where(ApiToken.user_id == user.id)
                    .order_by(ApiToken.id)
                )
            ).all()
        return [(row[0], row[1], row[2], row[3]) for row in rows]

    async def revoke_token(self, username: str, token_id: int) -> None:
        """Delete one of a user's tokens."""
        async with self._db.session() as session, session.begin():
            user = await _user(session, username)
            found = await session.execute(
                delete(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
            )
            if found.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"user {username} has no token {token_id}")
        self._forget_proofs()

    async def token_user(self, token: str) -> UserView | None:
        """The user of an API token; None if it is unknown or the user is disabled."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        digest = _digest(token)
        proven = self._proven(digest)
        if proven is not None and proven[1] is None:
            return proven[0]
        async with self._db.session() as session:
            row = (
                await session.execute(
                    select(User, ApiToken)
                    .join(ApiToken, ApiToken.user_id == User.id)
                    .where(ApiToken.digest == digest)
                )
            ).first()
            if row is None or row[0].disabled:
                return None
            user, api_token = row
            view = _view(user)
            now = datetime.now(UTC)
            # Writing on every request would make each read a write transaction, one at a
            # time on SQLite: the time of last use is kept to TOKEN_USE_RESOLUTION.
            used = api_token.last_used_at
            if used is None or now - used >= TOKEN_USE_RESOLUTION:
                api_token.last_used_at = now
                await session.commit()
        self._prove(digest, view)
        return view


async def _user(session: AsyncSession, username: str) -> User:
    user = await session.scalar(select(User).where(User.username == username.lower()))
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    return user


async def _keep_an_admin(session: AsyncSession, user: User, *, losing: bool) -> None:
    """ConflictError if the change would leave no admin who can log in."""
    if not losing or user.role != "admin" or user.disabled:
        return
    others = await session.scalar(
        select(func.count(User.id)).where(
            User.role == "admin", User.disabled.is_(False), User.id != user.id
        )
    )
    if not others:
        raise ConflictError(f"{user.username} is the last admin; make another admin first")


def _queue_list(queues: Sequence[str]) -> str | None:
    """A supervisor's queues as stored: names checked, comma-separated; None for all."""
    names = sorted({name.strip() for name in queues if name.strip()})
    for name in names:
        if not is_name(name):
            raise ValidationError(f"{name!r} is not a queue name", field="queues")
    return ",".join(names) or None


def _check_username(username: str) -> str:
    username = username.strip().lower()
    if _USERNAME.fullmatch(username) is None:
        raise ValidationError(
            "a username is 1 to 64 of a-z, 0-9, '.', '_', '@' and '-'", field="username"
        )
    return username


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValidationError(f"role is one of {', '.join(ROLES)}", field="role")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationError(
            f"a password has at least {MIN_PASSWORD} characters", field="password"
        )
