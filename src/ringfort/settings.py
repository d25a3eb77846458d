"""Settings: defaults, then environment (``RINGFORT_*``), then CLI flags.

Everything a running server needs to know before it can open its database is
here; everything else (extensions, queues, ...) lives in the database.
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ringfort.cron import CronError, CronSchedule

DEFAULT_DATA_DIR = Path("./data")


class HostPort(BaseModel):
    """An address to listen on."""

    host: str
    port: Annotated[int, Field(ge=0, le=65535)]

    @classmethod
    def parse(cls, text: str) -> HostPort:
        """Parse ``HOST:PORT`` (``[v6]:PORT`` for IPv6)."""
        text = text.strip()
        if text.startswith("["):
            host, sep, port = text[1:].partition("]:")
        else:
            host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"expected HOST:PORT, got {text!r}")
        return cls(host=host, port=int(port))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class RegistrarSettings(BaseModel):
    """REGISTER handling (RFC 3261 §10.3)."""

    min_expires: int = 60
    """Shorter requested intervals get 423 Interval Too Brief."""
    max_expires: int = 3600
    """Longer requested intervals are cut down to this."""
    default_expires: int = 3600
    """Used when the REGISTER names no interval."""
    max_contacts: int = 10
    """Bindings one extension may hold at once; the oldest is replaced past it."""
    nat_keepalive_interval: float = 30.0
    """Seconds between OPTIONS to phones behind NAT (or on TCP); 0 turns it off."""


class SecuritySettings(BaseModel):
    """Digest authentication and blocking of addresses that guess passwords."""

    realm: str = "ringfort"
    digest_algorithms: list[str] = Field(default_factory=lambda: ["MD5"])
    """Offered in this order. SHA-256 (RFC 8760) is opt-in: ``["SHA-256", "MD5"]``.

    MD5 alone is the default because common phones and test tools (SIPp 3.6,
    baresip 1.0) give up when a challenge offers SHA-256 at all, even second.
    """
    nonce_lifetime: int = 300
    """Seconds a nonce is accepted; after that the client gets ``stale=true``."""
    auth_fail_limit: int = 10
    """Failed authentications from one address within ``auth_fail_window``..."""
    auth_fail_window: int = 60
    """...seconds get that address blocked..."""
    block_seconds: int = 600
    """...for this many seconds."""
    trusted_addresses: list[str] = Field(default_factory=list)
    """Addresses never blocked (an administrator's own network)."""

    @field_validator("digest_algorithms")
    @classmethod
    def _check_algorithms(cls, value: list[str]) -> list[str]:
        known = {"MD5", "SHA-256"}
        unknown = [name for name in value if name not in known]
        if unknown or not value:
            raise ValueError(f"digest_algorithms must be a non-empty list of {sorted(known)}")
        return value


class CallSettings(BaseModel):
    """Calls between extensions: how long they ring, how many there may be."""

    ring_timeout: float = 60.0
    """Seconds a call rings unanswered before the caller gets 480 (``NO ANSWER``)."""
    max_calls: int = 1000
    """Concurrent calls in the whole system; further INVITEs get 503."""
    max_calls_per_extension: int = 8
    """Concurrent calls one extension may make or receive; further INVITEs get 503."""
    inband_dtmf: bool = False
    """Listen for DTMF tones in callers' audio as well as RFC 4733 events and SIP INFO, for
    phones and gateways that send keys only as sound. Off: the detector costs CPU and
    can mistake speech or music for a key. A caller whose phone offers no
    telephone-event is always listened to this way."""


class MediaSettings(BaseModel):
    """The built-in RTP relay."""

    address: str | None = None
    """Address RTP is received on and written into SDP; default: the SIP listen address."""
    port_low: Annotated[int, Field(ge=1024, le=65534)] = 10000
    port_high: Annotated[int, Field(ge=1025, le=65535)] = 20000
    """RTP uses even ports from port_low, RTCP the odd port above each; both stay <= port_high."""
    rtp_timeout: float = 60.0
    """An answered call with no RTP from a phone for this many seconds is hung up; 0: never."""
    keep_open: Annotated[int, Field(ge=0)] = 1024
    """Port pairs kept bound after their call ended, for the next calls to take without
    binding sockets (two open files each; fewer when the open-file limit is short).
    A kept pair goes to a new call no sooner than 2 s after its last one; 0: close at once."""


class RecordingSettings(BaseModel):
    """Call recording: where the files go, how long they stay, the on-demand key."""

    directory: Path | None = None
    """Where recordings are written; default ``<data_dir>/recordings``."""
    retention_days: Annotated[int, Field(ge=0)] = 0
    """Recordings older than this many days are deleted by ``ringfort recording purge``
    (and by the server once a day); 0 keeps them for ever."""
    toggle_code: str = "*1"
    """Keys either party presses during a call to start or pause its recording; empty: off."""


class MusicOnHoldSettings(BaseModel):
    """Music on hold: what a held caller or a queue's caller hears."""

    directory: Path | None = None
    """A folder of audio files (WAV) played in name order, over and over; default
    ``<data_dir>/moh``, and the music shipped with Ringfort when that folder has none."""
    on_hold: bool = True
    """Play it to a phone the other party has put on hold."""


class _Listener(BaseModel):
    """Something that listens on ``HOST:PORT``, checked when the settings load."""

    listen: str

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        HostPort.parse(value)
        return value

    @property
    def address(self) -> HostPort:
        """The listen address, parsed."""
        return HostPort.parse(self.listen)


class SipSettings(_Listener):
    """SIP transports."""

    listen: str = "127.0.0.1:5060"
    """``HOST:PORT`` for both UDP and TCP."""
    udp: bool = True
    tcp: bool = True
    max_message_size: int = 65535
    """A message larger than this is refused (413 where possible) and dropped."""
    tcp_idle_timeout: float = 3900.0
    """A TCP connection that carries nothing for this long is closed.

    Longer than the longest registration plus slack: a phone behind NAT that
    registered over TCP can only be reached on its own connection.
    """


class HttpSettings(_Listener):
    """The web UI and REST API."""

    listen: str = "127.0.0.1:8080"
    """``HOST:PORT`` of the HTTP server."""
    enabled: bool = True


class VoicemailSettings(BaseModel):
    """Voicemail: where messages go and what a message may be."""

    enabled: bool = True
    """A call to an extension that is busy, does not answer in ``calls.ring_timeout`` or
    has no phone registered goes to the extension's mailbox."""
    directory: Path | None = None
    """Where messages are kept; default ``<data_dir>/voicemail``."""
    max_message_seconds: Annotated[float, Field(gt=0)] = 180.0
    silence_seconds: Annotated[float, Field(gt=0)] = 10.0
    """A message ends after this long without sound."""
    min_message_seconds: Annotated[float, Field(ge=0)] = 1.0
    """Shorter messages are dropped (a caller who hung up at the beep)."""
    timezone: str | None = None
    """The time zone the phone menu says messages' times in (``Europe/Moscow``); default:
    the server's."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
                raise ValueError(f"unknown time zone {value!r} (e.g. Europe/London)") from error
        return value or None

    email_subject: str = "New voicemail from {caller} ({seconds} s)"
    """The subject of a message's e-mail; ``{mailbox}``, ``{caller}``, ``{clid}``,
    ``{time}``, ``{seconds}`` are filled in."""
    email_body: str = (
        "{clid} left you a message of {seconds} seconds in mailbox {mailbox} on {time}.\n"
        "{attachment}\n"
    )
    """The text of a message's e-mail; the fields of the subject, and ``{attachment}``
    (a line saying whether the recording is attached)."""
    email_retry_seconds: Annotated[float, Field(gt=0)] = 30.0
    """The first wait after a failed send; it doubles each time, up to an hour."""
    email_give_up_hours: Annotated[float, Field(gt=0)] = 72.0
    """A message not sent after this long is given up on (it stays in the mailbox)."""


class SmtpSettings(BaseModel):
    """The mail server Ringfort sends e-mail through (voicemail to e-mail)."""

    host: str | None = None
    """None: no e-mail is sent."""
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    security: Literal["auto", "starttls", "tls", "none"] = "auto"
    """``auto``: STARTTLS when the server offers it; ``starttls``: required; ``tls``: TLS
    from the start (usually port 465); ``none``: plain text only."""
    username: str | None = None
    password: str | None = None
    sender: str = "Ringfort <voicemail@localhost>"
    """The From of the e-mails."""
    timeout: Annotated[float, Field(gt=0)] = 30.0


class ParkingSettings(BaseModel):
    """Call parking: numbers a call is parked at and picked up from."""

    slots: str = "701-720"
    """The parking slots, ``first-last`` (numbers of one length, at most 1000), or empty for
    no parking. A phone transfers its caller to a slot to park them; any phone dials the
    slot to pick them up. Extensions, menus, queues and time conditions should not use
    these numbers: one that does keeps its number, and that slot is out of use."""
    timeout: Annotated[float, Field(gt=0)] = 300.0
    """Seconds a call stays parked before it rings the phone that parked it again (and,
    unanswered there, is told goodbye)."""

    @field_validator("slots")
    @classmethod
    def _slots_are_a_range(cls, value: str) -> str:
        parking_slots(value)
        return value

    @property
    def numbers(self) -> tuple[str, ...]:
        """Every slot's number, in order."""
        return parking_slots(self.slots)


MAX_PARKING_SLOTS = 1000


def parking_slots(text: str) -> tuple[str, ...]:
    """The numbers ``first-last`` covers; ValueError that says what is wrong."""
    text = text.strip()
    if not text:
        return ()
    first, dash, last = (part.strip() for part in text.partition("-"))
    last = last if dash else first
    if not (first.isdigit() and last.isdigit() and len(first) == len(last)):
        raise ValueError(
            f"parking slots {text!r}: write first-last with numbers of one length, e.g. 701-720"
        )
    low, high = int(first), int(last)
    if high < low or high - low >= MAX_PARKING_SLOTS:
        raise ValueError(
            f"parking slots {text!r}: first-last, first not above last, at most"
            f" {MAX_PARKING_SLOTS} slots"
        )
    return tuple(f"{number:0{len(first)}d}" for number in range(low, high + 1))


BACKUP_PARTS = ("recordings", "voicemail", "prompts", "moh")
"""What a backup may hold besides the database (which it always holds), in archive order."""


def backup_parts(text: str) -> tuple[str, ...]:
    """The parts a comma list names, in :data:`BACKUP_PARTS` order; ``none``: the database only.

    ValueError that names the unknown part.
    """
    names = {name.strip().lower() for name in text.split(",") if name.strip()}
    if names == {"none"}:
        return ()
    unknown = sorted(names - set(BACKUP_PARTS))
    if unknown:
        raise ValueError(
            f"unknown backup part {', '.join(unknown)}: choose from {', '.join(BACKUP_PARTS)}"
            " (or none: the database only)"
        )
    return tuple(part for part in BACKUP_PARTS if part in names)


class BackupSettings(BaseModel):
    """Backups the server makes by itself: when, where, what, and how many are kept."""

    schedule: str = ""
    """A cron expression (``minute hour day month weekday``, local time), e.g. ``30 3 * * *``
    for 03:30 every night; empty: no scheduled backups."""
    directory: Path | None = None
    """Where archives are written; default ``<data_dir>/backups``."""
    keep: Annotated[int, Field(ge=1)] = 7
    """After each scheduled backup, archives beyond the newest this many are deleted."""
    include: str = ",".join(BACKUP_PARTS)
    """The parts besides the database, a comma list of recordings, voicemail, prompts, moh;
    ``none``: the database only."""

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: str) -> str:
        if value.strip():
            try:
                CronSchedule.parse(value)
            except CronError as exc:
                raise ValueError(str(exc)) from None
        return value.strip()

    @field_validator("include")
    @classmethod
    def _check_include(cls, value: str) -> str:
        backup_parts(value)
        return value

    @property
    def cron(self) -> CronSchedule | None:
        """The schedule, parsed; None when scheduled backups are off."""
        return CronSchedule.parse(self.schedule) if self.schedule else None

    @property
    def parts(self) -> tuple[str, ...]:
        """``include``, parsed."""
        return backup_parts(self.include)


class Settings(BaseSettings):
    """All settings of one Ringfort node.

    Nested values come from the environment with a double underscore:
    ``RINGFORT_SIP__LISTEN=0.0.0.0:5060``, ``RINGFORT_SECURITY__REALM=example.com``.
    """

    model_config = SettingsConfigDict(
        env_prefix="RINGFORT_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    """SQLAlchemy URL; default ``sqlite+aiosqlite:///<data_dir>/ringfort.db``."""
    log_level: str = "INFO"
    sip: SipSettings = SipSettings()
    http: HttpSettings = HttpSettings()
    registrar: RegistrarSettings = RegistrarSettings()
    security: SecuritySettings = SecuritySettings()
    calls: CallSettings = CallSettings()
    media: MediaSettings = MediaSettings()
    recording: RecordingSettings = RecordingSettings()
    moh: MusicOnHoldSettings = MusicOnHoldSettings()
    parking: ParkingSettings = ParkingSettings()
    voicemail: VoicemailSettings = VoicemailSettings()
    smtp: SmtpSettings = SmtpSettings()
    backup: BackupSettings = BackupSettings()

    @property
    def recording_directory(self) -> Path:
        """Where call recordings are written."""
        return self.recording.directory or self.data_dir / "recordings"

    @property
    def voicemail_directory(self) -> Path:
        """Where voicemail messages are kept."""
        return self.voicemail.directory or self.data_dir / "voicemail"

    @property
    def moh_directory(self) -> Path:
        """The administrator's folder of music on hold."""
        return self.moh.directory or self.data_dir / "moh"

    @property
    def prompts_directory(self) -> Path:
        """The administrator's recorded prompts, searched before the shipped ones."""
        return self.data_dir / "prompts"

    @property
    def backup_directory(self) -> Path:
        """Where backup archives are written by default."""
        return self.backup.directory or self.data_dir / "backups"

    @property
    def effective_database_url(self) -> str:
        """The database URL in force, derived from the data directory if unset."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'ringfort.db').resolve()}"
