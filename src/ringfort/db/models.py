"""The tables: extensions, registrations, CDRs, blocked addresses, menus, time conditions,
recording rules, queues, agents, queue members and the queue log."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ringfort.disposition import Disposition, HangupBy

# Named constraints keep migrations deterministic: Alembic can only drop or
# alter what it can name, and SQLite and PostgreSQL would otherwise invent
# different names for the same constraint.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC.

    SQLite has no timestamp type and drops the offset, so values are converted
    to UTC before they are written and marked UTC when read; PostgreSQL keeps
    ``timestamptz`` and hands back the session's zone, which is normalised here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            # A naive time would be stored as if it were UTC and silently shift
            # by the local offset; refuse it where the bug is made.
            raise ValueError(f"naive datetime {value!r}: use a timezone-aware UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @property
    def python_type(self) -> type[datetime]:
        return datetime


class Base(DeclarativeBase):
    """Declarative base of every Ringfort table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime()}


class Extension(Base):
    """A phone number of the PBX and the SIP account that registers with it."""

    __tablename__ = "extensions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(15), unique=True)
    """Digits only, 2 to 15 of them (E.164 allows no more)."""
    name: Mapped[str] = mapped_column(String(80))
    sip_password: Mapped[str] = mapped_column(String(128))
    # Kept in the clear: digest authentication with both MD5 and SHA-256
    # (RFC 8760) needs the password itself, or one HA1 per algorithm and realm.
    voicemail_pin: Mapped[str | None] = mapped_column(String(16))
    voicemail_enabled: Mapped[bool] = mapped_column(default=False, server_default=false())
    """Calls to the extension that are busy or not answered go to its mailbox."""
    voicemail_email: Mapped[str | None] = mapped_column(String(254))
    """New messages are e-mailed here."""
    voicemail_attach: Mapped[bool] = mapped_column(default=True, server_default=true())
    """The e-mail carries the recording (off: only who called, when, how long)."""
    voicemail_delete_emailed: Mapped[bool] = mapped_column(default=False, server_default=false())
    """A message e-mailed is deleted from the mailbox."""
    ring_seconds: Mapped[int | None] = mapped_column(Integer)
    """How long a call rings the extension's phones; None: ``calls.ring_timeout``."""
    voicemail_operator: Mapped[str | None] = mapped_column(String(80))
    """Where a caller who presses 0 during the mailbox's greeting goes (a destination)."""
    voicemail_max_messages: Mapped[int] = mapped_column(Integer, default=100, server_default="100")
    """A mailbox holding this many messages takes no more."""
    voicemail_max_seconds: Mapped[int] = mapped_column(Integer, default=180, server_default="180")
    """The longest message a caller may leave."""
    voicemail_ask_pin: Mapped[bool] = mapped_column(default=True, server_default=true())
    """False: the owner's own phone reaches the mailbox (``*97``) without the PIN."""
    dnd: Mapped[bool] = mapped_column(default=False, server_default=false())
    """Do-not-disturb: calls find the extension busy and its phones do not ring."""
    forward_always: Mapped[str | None] = mapped_column(String(20))
    """Every call goes to this number instead (the phones do not ring)."""
    forward_busy: Mapped[str | None] = mapped_column(String(20))
    """Calls that find the extension busy (or declined, or do-not-disturb) go here."""
    forward_no_answer: Mapped[str | None] = mapped_column(String(20))
    """Calls not answered in the ring time, or with no phone registered, go here."""
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class Registration(Base):
    """One contact bound to an extension by REGISTER (RFC 3261 §10.3).

    ``number`` is deliberately not a foreign key: the registrar persists
    bindings in batches, and removing an extension deletes its bindings in the
    same service call instead.
    """

    __tablename__ = "registrations"
    __table_args__ = (UniqueConstraint("number", "contact"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(15), index=True)
    contact: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
    """Unix seconds; a float so the registrar's clock needs no conversion."""
    call_id: Mapped[str] = mapped_column(Text)
    cseq: Mapped[int] = mapped_column(Integer)
    q: Mapped[float | None] = mapped_column(Float)
    transport: Mapped[str] = mapped_column(String(8))
    source_host: Mapped[str] = mapped_column(String(255))
    source_port: Mapped[int] = mapped_column(Integer)
    behind_nat: Mapped[bool]
    user_agent: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


CDR_ID_LENGTH = 64
"""Room for ``uniqueid`` and ``linkedid``."""
CDR_PARTY_LENGTH = 80
"""Room for ``src`` and ``dst``."""
CDR_CLID_LENGTH = 160
BLOCK_REASON_LENGTH = 255


def _in_list(column: str, values: type[enum.StrEnum]) -> str:
    quoted = ", ".join(f"'{member.value}'" for member in values)
    return f"{column} IN ({quoted})"


class Cdr(Base):
    """A call detail record with the columns of Asterisk's ``cdr`` table."""

    __tablename__ = "cdr"
    __table_args__ = (
        CheckConstraint(_in_list("disposition", Disposition), name="disposition"),
        CheckConstraint(_in_list("hangup_by", HangupBy), name="hangup_by"),
        CheckConstraint("duration >= 0 AND billsec >= 0", name="durations"),
        Index(None, "start"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(CDR_ID_LENGTH), unique=True)
    """Identifies this leg's record."""
    linkedid: Mapped[str] = mapped_column(String(CDR_ID_LENGTH), index=True)
    """Shared by every record of one call, so its legs can be put together."""
    src: Mapped[str] = mapped_column(String(CDR_PARTY_LENGTH))
    dst: Mapped[str] = mapped_column(String(CDR_PARTY_LENGTH))
    clid: Mapped[str] = mapped_column(String(CDR_CLID_LENGTH))
    """Caller ID as Asterisk writes it: ``"Name" <number>``."""
    start: Mapped[datetime]
    answer: Mapped[datetime | None]
    end: Mapped[datetime]
    duration: Mapped[int] = mapped_column(Integer)
    """Seconds from start to end."""
    billsec: Mapped[int] = mapped_column(Integer)
    """Seconds from answer to end; 0 when not answered."""
    disposition: Mapped[str] = mapped_column(String(16))
    hangup_by: Mapped[str | None] = mapped_column(String(8))
    recording: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(CDR_PARTY_LENGTH))
    """The extension whose phone answered, when not the number dialled alone says it (a
    forward, a DID or a time condition put the call through); None if no phone answered."""
    """The call's recording, relative to the recordings directory, if it was recorded."""


class BlockedAddress(Base):
    """An address refused for failing authentication too often."""

    __tablename__ = "blocked_addresses"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    blocked_until: Mapped[float] = mapped_column(Float)
    """Unix seconds when the block ends."""
    failures: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(BLOCK_REASON_LENGTH))
    blocked_at: Mapped[datetime] = mapped_column(default=utc_now)


CONFIG_NAME_LENGTH = 64
"""Room for menu and time-condition names."""
DIALLED_NUMBER_LENGTH = 20
"""Room for the internal number of a menu or time condition."""
DESTINATION_LENGTH = 128
"""Room for a destination's text form (``extension:101``, ``ivr:main``, ``hangup``)."""
OPTION_DIGITS_LENGTH = 8


class IvrMenu(Base):
    """An auto-attendant menu: greeting, timeouts, retries and where calls go when they run out.

    Prompt lists are JSON arrays of prompt names; destinations are their text form
    (``extension:101``, ``ivr:sales``, ``hangup``), so the store needs no knowledge
    of calls and a query can find every menu that sends calls to a place.
    """

    __tablename__ = "ivr_menus"
    __table_args__ = (
        CheckConstraint("timeout_retries >= 0 AND invalid_retries >= 0", name="retries"),
        CheckConstraint("digit_timeout > 0 AND interdigit_timeout > 0", name="timeouts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(CONFIG_NAME_LENGTH), unique=True)
    number: Mapped[str | None] = mapped_column(String(DIALLED_NUMBER_LENGTH), unique=True)
    """Shares one number space with extensions and time conditions (services keep it so)."""
    language: Mapped[str] = mapped_column(String(16))
    greeting: Mapped[str] = mapped_column(Text)
    direct_dial: Mapped[bool]
    digit_timeout: Mapped[float] = mapped_column(Float)
    """Seconds."""
    interdigit_timeout: Mapped[float] = mapped_column(Float)
    """Seconds."""
    timeout_retries: Mapped[int] = mapped_column(Integer)
    timeout_prompt: Mapped[str] = mapped_column(Text)
    timeout_destination: Mapped[str] = mapped_column(String(DESTINATION_LENGTH))
    invalid_retries: Mapped[int] = mapped_column(Integer)
    invalid_prompt: Mapped[str] = mapped_column(Text)
    invalid_destination: Mapped[str] = mapped_column(String(DESTINATION_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)

    options: Mapped[list[IvrOption]] = relationship(
        back_populates="menu",
        cascade="all, delete-orphan",
        # The database deletes a menu's options itself (ON DELETE CASCADE).
        passive_deletes=True,
        # Loaded with the menu in the same query round: async sessions cannot lazy-load.
        lazy="selectin",
        order_by="IvrOption.digits",
    )


class IvrOption(Base):
    """A key of a menu and where it leads."""

    __tablename__ = "ivr_options"
    __table_args__ = (UniqueConstraint("menu_id", "digits"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    menu_id: Mapped[int] = mapped_column(ForeignKey("ivr_menus.id", ondelete="CASCADE"))
    digits: Mapped[str] = mapped_column(String(OPTION_DIGITS_LENGTH))
    """One or more of 0-9, * and #."""
    destination: Mapped[str] = mapped_column(String(DESTINATION_LENGTH))

    menu: Mapped[IvrMenu] = relationship(back_populates="options")


class TimeCondition(Base):
    """Weekly hours and holidays in a time zone, choosing between two destinations.

    ``rules`` is a JSON array of rule texts (``"mon-fri 09:00-18:00"``) and
    ``holidays`` a JSON array of ISO dates; services parse and check both.
    """

    __tablename__ = "time_conditions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(CONFIG_NAME_LENGTH), unique=True)
    number: Mapped[str | None] = mapped_column(String(DIALLED_NUMBER_LENGTH), unique=True)
    """Shares one number space with extensions and menus (services keep it so)."""
    timezone: Mapped[str] = mapped_column(String(64))
    """IANA name, e.g. ``Europe/Moscow``."""
    rules: Mapped[str] = mapped_column(Text)
    holidays: Mapped[str] = mapped_column(Text)
    match_destination: Mapped[str] = mapped_column(String(DESTINATION_LENGTH))
    nomatch_destination: Mapped[str] = mapped_column(String(DESTINATION_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


RECORDING_RULE_KIND_LENGTH = 16
RECORDING_RULE_TARGET_LENGTH = 20
"""Room for an extension, a number or a prefix (digits, ``*`` and ``#``)."""
RECORDING_RULE_DIRECTION_LENGTH = 8


class RecordingRule(Base):
    """A rule that has calls recorded from their answer.

    ``kind`` is ``extension`` (calls made by and/or to an extension, as
    ``direction`` says: ``out``, ``in`` or ``both``), ``number`` (calls to
    exactly that number) or ``prefix`` (calls to numbers starting with it);
    ``direction`` is ``both`` for the last two.
    """

    __tablename__ = "recording_rules"
    __table_args__ = (
        UniqueConstraint("kind", "target", "direction"),
        CheckConstraint("kind IN ('extension', 'number', 'prefix')", name="kind"),
        CheckConstraint("direction IN ('in', 'out', 'both')", name="direction"),
        CheckConstraint("kind = 'extension' OR direction = 'both'", name="direction_scope"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(RECORDING_RULE_KIND_LENGTH))
    target: Mapped[str] = mapped_column(String(RECORDING_RULE_TARGET_LENGTH))
    direction: Mapped[str] = mapped_column(String(RECORDING_RULE_DIRECTION_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


QUEUE_STRATEGY_LENGTH = 16
EMPTY_RULE_LENGTH = 16
PROMPT_NAME_LENGTH = 64
AGENT_NUMBER_LENGTH = 20
AGENT_PIN_LENGTH = 16
PAUSE_REASON_LENGTH = 64
QUEUE_LOG_FIELD_LENGTH = 128
QUEUE_LOG_EVENT_LENGTH = 32


class Queue(Base):
    """A call-centre queue: the number callers dial, how agents are rung, and its limits.

    Times are seconds. ``max_wait`` and ``max_length`` of 0 mean no limit;
    ``join_empty`` and ``leave_empty`` say which agents must be there for a
    caller to join or stay (``always``/``never``, ``loggedin``: some agent logged
    in, paused or not; ``available``: some agent logged in and not paused).
    ``overflow`` is where callers go who wait too long, find the queue full, or
    cannot join or stay by those rules.
    """

    __tablename__ = "queues"
    __table_args__ = (
        CheckConstraint(
            "strategy IN ('ringall', 'leastrecent', 'fewestcalls', 'random', 'rrmemory',"
            " 'linear', 'wrandom')",
            name="strategy",
        ),
        CheckConstraint("join_empty IN ('always', 'loggedin', 'available')", name="join_empty"),
        CheckConstraint("leave_empty IN ('never', 'loggedin', 'available')", name="leave_empty"),
        CheckConstraint(
            "ring_timeout > 0 AND retry_delay >= 0 AND wrapup >= 0 AND max_wait >= 0"
            " AND max_length >= 0 AND autopause >= 0 AND service_level > 0",
            name="limits",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(CONFIG_NAME_LENGTH), unique=True)
    number: Mapped[str | None] = mapped_column(String(DIALLED_NUMBER_LENGTH), unique=True)
    """Shares one number space with extensions, menus and time conditions."""
    strategy: Mapped[str] = mapped_column(String(QUEUE_STRATEGY_LENGTH))
    ring_timeout: Mapped[float] = mapped_column(Float)
    """How long one attempt rings an agent."""
    retry_delay: Mapped[float] = mapped_column(Float)
    """Pause between attempts."""
    wrapup: Mapped[float] = mapped_column(Float)
    """Rest after each call before the agent is rung again (an agent's own value wins)."""
    max_wait: Mapped[float] = mapped_column(Float)
    max_length: Mapped[int] = mapped_column(Integer)
    overflow: Mapped[str] = mapped_column(String(DESTINATION_LENGTH))
    join_empty: Mapped[str] = mapped_column(String(EMPTY_RULE_LENGTH))
    leave_empty: Mapped[str] = mapped_column(String(EMPTY_RULE_LENGTH))
    announce_position: Mapped[bool]
    """Tell callers their position and the expected wait."""
    announce_first: Mapped[float] = mapped_column(Float)
    """Seconds of waiting before the first position announcement."""
    announce_every: Mapped[float] = mapped_column(Float)
    """Seconds between position announcements; 0: only once."""
    periodic_prompt: Mapped[str | None] = mapped_column(String(PROMPT_NAME_LENGTH))
    """A prompt played to waiting callers every ``periodic_every`` seconds."""
    periodic_every: Mapped[float] = mapped_column(Float)
    exit_key: Mapped[str | None] = mapped_column(String(1))
    """A key that takes a waiting caller to ``exit_destination``."""
    exit_destination: Mapped[str | None] = mapped_column(String(DESTINATION_LENGTH))
    record: Mapped[bool]
    """Record every answered call of the queue."""
    autopause: Mapped[int] = mapped_column(Integer)
    """Pause an agent after this many rings in a row not answered; 0: never."""
    service_level: Mapped[int] = mapped_column(Integer)
    """Calls answered within this many seconds count as served in time."""
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class Agent(Base):
    """A person who takes queue calls, logging in from any phone with their PIN.

    The PIN alone identifies the agent at a phone (as in the admin guide: the
    agent dials ``*45<queue>`` and keys the PIN), so PINs are unique. They are
    kept in the clear, like voicemail PINs: a 4-6 digit PIN behind a hash
    falls to a brute force in microseconds, so hashing would only pretend.
    """

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(AGENT_NUMBER_LENGTH), unique=True)
    """The agent's own number in reports and the queue log (not a phone number)."""
    name: Mapped[str] = mapped_column(String(80))
    pin: Mapped[str] = mapped_column(String(AGENT_PIN_LENGTH), unique=True)
    wrapup: Mapped[float | None] = mapped_column(Float)
    """Overrides the queues' wrap-up time for this agent."""
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class QueueMember(Base):
    """An agent's place in a queue: the penalty, and whether and where they are logged in.

    A row without ``phone`` is an agent allowed in the queue (with a penalty)
    but not logged in. Login state is stored so that a restart keeps everyone
    where they were.
    """

    __tablename__ = "queue_members"
    __table_args__ = (
        UniqueConstraint("queue_id", "agent_id"),
        CheckConstraint("penalty >= 0", name="penalty"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    penalty: Mapped[int] = mapped_column(Integer, default=0)
    """Lower rings first; a higher penalty only when no lower one is free."""
    phone: Mapped[str | None] = mapped_column(String(15))
    """The extension the agent is logged in at, or None when logged out."""
    logged_in_at: Mapped[datetime | None]
    paused: Mapped[bool] = mapped_column(default=False)
    pause_reason: Mapped[str | None] = mapped_column(String(PAUSE_REASON_LENGTH))
    paused_at: Mapped[datetime | None]


class QueueLogEntry(Base):
    """One line of the queue event log, with the columns of Asterisk's realtime ``queue_log``.

    ``callid`` is the caller's call ``uniqueid`` (the CDR ``linkedid`` of its legs)
    or ``NONE``; ``agent`` the agent's number or ``NONE``; ``data1``..``data5`` the
    event's parameters as Asterisk writes them (see docs/queues.md).
    """

    __tablename__ = "queue_log"
    __table_args__ = (
        Index(None, "time"),
        Index(None, "queuename", "time"),
        Index(None, "agent", "time"),
        Index(None, "callid"),
        Index(None, "event", "time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime]
    callid: Mapped[str] = mapped_column(String(CDR_ID_LENGTH))
    queuename: Mapped[str] = mapped_column(String(CONFIG_NAME_LENGTH))
    agent: Mapped[str] = mapped_column(String(AGENT_NUMBER_LENGTH))
    event: Mapped[str] = mapped_column(String(QUEUE_LOG_EVENT_LENGTH))
    data1: Mapped[str] = mapped_column(String(QUEUE_LOG_FIELD_LENGTH), default="")
    data2: Mapped[str] = mapped_column(String(QUEUE_LOG_FIELD_LENGTH), default="")
    data3: Mapped[str] = mapped_column(String(QUEUE_LOG_FIELD_LENGTH), default="")
    data4: Mapped[str] = mapped_column(String(QUEUE_LOG_FIELD_LENGTH), default="")
    data5: Mapped[str] = mapped_column(String(QUEUE_LOG_FIELD_LENGTH), default="")


VOICEMAIL_FOLDERS = ("INBOX", "Old")
"""New messages, and messages listened to (Asterisk's folder names)."""


class VoicemailMessage(Base):
    """A message left in a mailbox: its audio is a WAV file under the voicemail directory."""

    __tablename__ = "voicemail_messages"
    __table_args__ = (
        CheckConstraint("folder IN ('INBOX', 'Old')", name="folder"),
        CheckConstraint("seconds >= 0", name="seconds"),
        Index(None, "mailbox", "folder", "received_at"),
        Index(None, "email_state", "email_next_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(15))
    """The extension number whose mailbox it is."""
    folder: Mapped[str] = mapped_column(String(8), default="INBOX")
    caller: Mapped[str] = mapped_column(String(CDR_PARTY_LENGTH))
    clid: Mapped[str] = mapped_column(String(CDR_CLID_LENGTH))
    received_at: Mapped[datetime]
    seconds: Mapped[float] = mapped_column(Float)
    path: Mapped[str] = mapped_column(String(255), unique=True)
    """The WAV file, relative to the voicemail directory."""
    uniqueid: Mapped[str] = mapped_column(String(CDR_ID_LENGTH))
    """The call it was left in (the CDR row's ``uniqueid``)."""
    email_to: Mapped[str | None] = mapped_column(String(254))
    email_state: Mapped[str | None] = mapped_column(String(8))
    """``pending`` (to send), ``sent``, ``failed`` (given up); None: not e-mailed."""
    email_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    email_next_at: Mapped[datetime | None]
    email_error: Mapped[str | None] = mapped_column(Text)
    """Why the last attempt failed."""


USER_ROLES = ("admin", "supervisor", "agent")
"""What a user of the web interface and the API may do (see ``ringfort.api.access``)."""


class User(Base):
    """A person who logs in to the web interface or uses the API."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'supervisor', 'agent')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    """argon2id, in the PHC string format (parameters and salt included)."""
    role: Mapped[str] = mapped_column(String(16))
    extension: Mapped[str | None] = mapped_column(String(15))
    """The user's own extension: their phone, their mailbox, their calls."""
    agent: Mapped[str | None] = mapped_column(String(AGENT_NUMBER_LENGTH))
    """The call-centre agent the user is (their number), for the agent's page."""
    queues: Mapped[str | None] = mapped_column(Text)
    """A supervisor's queues (names, comma-separated); None: every queue."""
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    disabled: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class ApiToken(Base):
    """A token a program uses instead of a password (``Authorization: Bearer ...``)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the token: the token itself is shown once and never stored."""
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_used_at: Mapped[datetime | None]


class WebSession(Base):
    """A browser's login: the cookie carries the token, the row its digest and CSRF token."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AuditEntry(Base):
    """One change made through the API: who, when, what, and the object before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    username: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    """The client's address."""
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(255))
    status: Mapped[int] = mapped_column(Integer)
    before: Mapped[str | None] = mapped_column(Text)
    """The object as JSON before the change (None: it did not exist, or cannot be read)."""
    after: Mapped[str | None] = mapped_column(Text)
    """What the change returned as JSON (None for a deletion)."""


class Did(Base):
    """An inbound number (a DID of a trunk, or any number dialled) and where its calls go."""

    __tablename__ = "dids"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    destination: Mapped[str] = mapped_column(String(80))
    """Where calls to it go, in the destination's text form (``ivr:main``)."""
    description: Mapped[str] = mapped_column(String(160), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)
