"""The composition root: builds a node from its settings, starts it, stops it.

Only this module wires across layers (ARCHITECTURE.md). Start-up is ordered
(database, state from the store, SIP, HTTP) and shutdown runs in reverse, so
nothing is accepted before it can be handled and nothing pending is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import secrets
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from ringfort.api.app import create_app
from ringfort.api.server import HttpServer
from ringfort.apps.features import FeatureCodes
from ringfort.apps.launcher import Applications
from ringfort.apps.parking import ParkingLot
from ringfort.apps.queue.centre import AgentState, CallCentre
from ringfort.apps.queue.events import QueueLogged
from ringfort.apps.queue.phones import PhoneActivity
from ringfort.apps.timecond import zone
from ringfort.apps.voicemail import MessageLimits
from ringfort.bus import EventBus
from ringfort.clock import local_zone
from ringfort.errors import RingfortError
from ringfort.file_limit import (
    check_open_file_limit,
    media_pairs_within,
    open_file_limit,
    raise_open_file_limit,
)
from ringfort.media.moh import SHIPPED_MUSIC, MusicOnHold
from ringfort.media.prompts import SHIPPED_PROMPTS, PromptLibrary
from ringfort.media.relay import RelayEngine
from ringfort.pbx.b2bua import B2bua, CallLimits
from ringfort.pbx.call_events import CallEnded
from ringfort.pbx.core import PbxCore
from ringfort.pbx.guard import AuthGuard
from ringfort.pbx.keepalive import NatKeepalive
from ringfort.pbx.location import LocationService
from ringfort.pbx.mwi import MessageWaiting
from ringfort.pbx.recording import CallRecorder
from ringfort.pbx.registrar import Authorizer, Registrar, RegistrarPolicy
from ringfort.pbx.writebehind import StoreWriter
from ringfort.services.audit import AuditService
from ringfort.services.backup import BackupLayout, BackupService
from ringfort.services.backup_schedule import ScheduledBackups
from ringfort.services.calls import CallService
from ringfort.services.cdr_writer import CdrWriter
from ringfort.services.data_directory import DataDirectoryLock
from ringfort.services.database import Database
from ringfort.services.dialplan import DialPlanService
from ringfort.services.extensions import ExtensionService
from ringfort.services.live import LiveFeed
from ringfort.services.metrics import CallOutcomes, ErrorLogCounter, Metric
from ringfort.services.queue_directory import QueueDirectoryService
from ringfort.services.queue_log_writer import QueueLogWriter
from ringfort.services.recording_rules import RecordingRuleService
from ringfort.services.recordings import RecordingJanitor, RecordingService
from ringfort.services.status import StatusService
from ringfort.services.store_ports import (
    DirectoryForwarding,
    SqlBindingStore,
    SqlBlockStore,
    SqlExtensionDirectory,
)
from ringfort.services.users import UserService
from ringfort.services.voicemail import VoicemailService
from ringfort.services.voicemail_mail import MailServer, MailTemplates, VoicemailMailer
from ringfort.settings import Settings
from ringfort.sip.auth import Algorithm, DigestAuthenticator, NonceService
from ringfort.sip.transaction import TransactionLayer
from ringfort.transport.sip import TransportStats
from ringfort.transport.stack import SipStack

log = logging.getLogger("ringfort")

HOUSEKEEPING_INTERVAL = 1.0

GC_THRESHOLDS = (50_000, 20, 100)
"""The cyclic collector's thresholds once start-up is frozen (see ``serve``)."""


def load_secret(data_dir: Path) -> bytes:
    """The node's secret for signing nonces, kept so a restart does not void them."""
    path = data_dir / "node.key"
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret.hex())
    return secret


class Node:
    """One running Ringfort: SIP, registrar, HTTP, and their background work."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(url=settings.effective_database_url)
        self.location = LocationService()
        security = settings.security
        self.guard = AuthGuard(
            limit=security.auth_fail_limit,
            window=security.auth_fail_window,
            block_seconds=security.block_seconds,
            trusted=security.trusted_addresses,
        )
        self.binding_store = SqlBindingStore(db=self.db)
        self.block_store = SqlBlockStore(db=self.db)
        self.writer = StoreWriter(bindings=self.binding_store, blocks=self.block_store)
        self.bus = EventBus()
        self.cdr_writer = CdrWriter(db=self.db)
        self.bus.subscribe(CallEnded, self.cdr_writer.on_call_ended)
        self.queue_log_writer = QueueLogWriter(db=self.db)
        self.bus.subscribe(QueueLogged, self.queue_log_writer.on_queue_logged)
        self.phones = PhoneActivity()
        self.phones.attach(self.bus)
        self.outcomes = CallOutcomes()
        self.outcomes.attach(self.bus)
        self.errors_logged = ErrorLogCounter()
        self.recording_rules = RecordingRuleService(db=self.db)
        """One copy of the rules for the calls and the API, so an API change applies at once."""
        self.centre: CallCentre | None = None
        media = settings.media
        self.media = RelayEngine(
            host=media.address or settings.sip.address.host,
            port_low=media.port_low,
            port_high=media.port_high,
            # 0 turns the timeout off; the engine then never reports a leg idle.
            rtp_timeout=media.rtp_timeout if media.rtp_timeout > 0 else float("inf"),
            keep_open=media.keep_open,
            max_open_pairs=media_pairs_within(open_file_limit()),
        )
        self.calls: B2bua | None = None
        self.mwi: MessageWaiting | None = None
        self.mailer: VoicemailMailer | None = None
        self.stack: SipStack | None = None
        self.http: HttpServer | None = None
        self.core: PbxCore | None = None
        self.directory: SqlExtensionDirectory | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._janitor: asyncio.Task[None] | None = None
        self._backups: asyncio.Task[None] | None = None
        self.data_lock = DataDirectoryLock(settings.data_dir)
        self._ready = False

    async def start(self, *, demo: bool = False) -> list[tuple[str, str, str]]:
        """Open the store, restore state, open the listeners.

        Returns the demo extensions created now as ``(number, name, password)``.
        """
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        logging.getLogger("ringfort").addHandler(self.errors_logged)
        # Held while the server runs, so `ringfort backup restore` will not replace
        # the directory under it.
        self.data_lock.hold_shared()
        await self.db.open()
        created = await ExtensionService(db=self.db).ensure_demo() if demo else []

        now = time.time()
        lapsed = self.location.restore(await self.binding_store.load_bindings(), now)
        if lapsed:
            await self.binding_store.save_bindings([], [(b.number, b.contact) for b in lapsed])
        blocks = await self.block_store.load_blocks()
        self.guard.restore(b for b in blocks if b.blocked_until > now)
        for block in blocks:
            if block.blocked_until <= now:
                await self.block_store.remove_block(block.address)
        self.writer.start()

        security = settings.security
        authenticator = DigestAuthenticator(
            realm=security.realm,
            nonces=NonceService(load_secret(settings.data_dir), security.nonce_lifetime),
            algorithms=tuple(Algorithm.from_token(name) for name in security.digest_algorithms),
        )
        self.directory = SqlExtensionDirectory(db=self.db)
        count = await self.directory.preload()
        log.info("%d extension(s) loaded", count)
        authorizer = Authorizer(
            directory=self.directory,
            authenticator=authenticator,
            guard=self.guard,
            on_block=self.writer.block,
        )
        reg = settings.registrar
        registrar = Registrar(
            authorizer=authorizer,
            location=self.location,
            policy=RegistrarPolicy(
                min_expires=reg.min_expires,
                max_expires=reg.max_expires,
                default_expires=reg.default_expires,
                max_contacts=reg.max_contacts,
            ),
            on_change=self.writer.binding_change,
        )
        self.core = PbxCore(registrar=registrar)
        sip = settings.sip
        address = sip.address
        self.stack = SipStack(
            host=address.host,
            port=address.port,
            udp=sip.udp,
            tcp=sip.tcp,
            max_message_size=sip.max_message_size,
            tcp_idle_timeout=sip.tcp_idle_timeout,
            layer=TransactionLayer(),
            on_event=self.core.on_event,
            is_blocked=lambda host: self.guard.is_blocked(host, time.time()),
        )
        calls = settings.calls
        self.cdr_writer.start()
        self.queue_log_writer.start()
        dial_plan = DialPlanService(self.db)
        prompts = PromptLibrary([settings.data_dir / "prompts", SHIPPED_PROMPTS])
        queues = QueueDirectoryService(db=self.db)
        self.centre = CallCentre(queues, self.bus, self.phones, zone=local_zone())
        self.parking = ParkingLot(settings.parking.numbers, timeout=settings.parking.timeout)
        voicemail = settings.voicemail
        self.voicemail = VoicemailService(self.db, settings.voicemail_directory)
        self.voicemail.on_extension_change = self.directory.invalidate
        message_limits = MessageLimits(
            max_seconds=voicemail.max_message_seconds,
            silence_seconds=voicemail.silence_seconds,
            min_seconds=voicemail.min_message_seconds,
        )
        await self.centre.start()
        self.calls = B2bua(
            sender=self.stack,
            authorizer=authorizer,
            directory=self.directory,
            location=self.location,
            media=self.media,
            bus=self.bus,
            limits=CallLimits(
                ring_timeout=calls.ring_timeout,
                max_calls=calls.max_calls,
                max_calls_per_extension=calls.max_calls_per_extension,
            ),
            media_address=settings.media.address,
            dial_plan=FeatureCodes(dial_plan, parking=self.parking),
            launcher=Applications(
                dial_plan,
                prompts,
                queues=queues,
                centre=self.centre,
                parking=self.parking,
                voicemail=self.voicemail,
                message_limits=message_limits,
                zone=zone(voicemail.timezone) if voicemail.timezone else None,
                forwards=DirectoryForwarding(
                    self.directory,
                    ExtensionService(db=self.db, on_change=self.directory.invalidate),
                ),
            ),
            voicemail=voicemail.enabled,
            inband_dtmf=calls.inband_dtmf,
            recorder=CallRecorder(
                media=self.media,
                directory=settings.recording_directory,
                rules=self.recording_rules,
                toggle_code=settings.recording.toggle_code,
            ),
            music=MusicOnHold([settings.moh_directory, SHIPPED_MUSIC]),
            music_on_hold=settings.moh.on_hold,
        )
        self.mwi = MessageWaiting(
            sender=self.stack, authorizer=authorizer, location=self.location,
            counts=self.voicemail,
        )  # fmt: skip
        self.mailer = _voicemail_mailer(settings, self.db, self.voicemail)
        mailer = self.mailer

        def voicemail_changed() -> None:
            assert self.mwi is not None
            self.mwi.poke()
            if mailer is not None:
                mailer.poke()

        self.voicemail.on_change = voicemail_changed
        self.core.attach(self.stack, calls=self.calls, mwi=self.mwi)
        await self.stack.start()
        self.mwi.start()
        if self.mailer is not None:
            self.mailer.start()

        if settings.http.enabled:
            http = settings.http.address
            self.http = HttpServer(
                app=create_app(
                    status=StatusService(db=self.db),
                    sip_ready=lambda: self._ready,
                    live=self.live_status,
                    callcentre=LiveFeed(self.bus, self.centre.snapshot),
                    db=self.db,
                    voicemail=self.voicemail,
                    users=UserService(self.db),
                    audit=AuditService(self.db),
                    extensions=ExtensionService(db=self.db, on_change=self.directory.invalidate),
                    recording_rules=self.recording_rules,
                    recordings=RecordingService(db=self.db, directory=settings.recording_directory),
                    calls=CallService(self.calls),
                    metrics=self.metrics,
                ),
                host=http.host,
                port=http.port,
            )
            await self.http.start()
        self._housekeeping = asyncio.create_task(self._housekeep(), name="housekeeping")
        if settings.recording.retention_days > 0:
            janitor = RecordingJanitor(
                recordings=RecordingService(db=self.db, directory=settings.recording_directory)
            )
            self._janitor = asyncio.create_task(
                janitor.run_forever(settings.recording.retention_days), name="recording-janitor"
            )
        schedule = settings.backup.cron
        if schedule is not None:
            backups = ScheduledBackups(
                backups=BackupService(
                    layout=BackupLayout.from_settings(settings),
                    directory=settings.backup_directory,
                ),
                schedule=schedule,
                keep=settings.backup.keep,
                parts=settings.backup.parts,
                zone=local_zone(),
            )
            self._backups = asyncio.create_task(backups.run_forever(), name="scheduled-backups")
        if reg.nat_keepalive_interval > 0:
            keepalive = NatKeepalive(
                location=self.location,
                sender=self.stack,
                interval=reg.nat_keepalive_interval,
                wall_clock=time.time,
                on_flow_lost=lambda b: self.writer.binding_change_deletes([(b.number, b.contact)]),
            )
            self._keepalive = asyncio.create_task(keepalive.run(), name="nat-keepalive")
        self._ready = True
        return created

    def live_status(self) -> dict[str, Any]:
        """What only the running process knows: calls in progress, media ports in use."""
        pool = self.media.port_pool
        return {
            "calls": {"active": self.calls.active if self.calls is not None else 0},
            "media": {
                "legs": self.media.leg_count,
                "playing": self.media.playing_count,
                "recording": self.media.recording_count,
                "ports_in_use": pool.in_use,
                "ports_kept_open": pool.kept_open,
                "port_capacity": pool.capacity,
            },
            "callcentre": self.centre.snapshot() if self.centre is not None else None,
        }

    def metrics(self) -> list[Metric]:
        """What ``/metrics`` shows, read from the counters the parts of the node keep."""
        snapshot = self.centre.snapshot() if self.centre is not None else {}
        agents = Counter(str(agent["state"]) for agent in snapshot.get("agents", []))
        stats = self.stack.transport.stats if self.stack is not None else TransportStats()
        return [
            Metric.single(
                "ringfort_registrations",
                "gauge",
                "Contacts registered (phones reachable by their extension).",
                self.location.count(),
            ),
            Metric.single(
                "ringfort_active_calls",
                "gauge",
                "Calls in progress.",
                self.calls.active if self.calls is not None else 0,
            ),
            self.outcomes.metric(),
            Metric(
                "ringfort_queue_waiting",
                "gauge",
                "Callers waiting in each queue.",
                [({"queue": q["name"]}, len(q["waiting"])) for q in snapshot.get("queues", [])],
            ),
            Metric(
                "ringfort_agents",
                "gauge",
                "Agents by state.",
                [({"state": state.value}, agents[state.value]) for state in AgentState],
            ),
            Metric(
                "ringfort_sip_messages_total",
                "counter",
                "SIP messages received (parsed) and sent.",
                [
                    ({"direction": "in"}, stats.messages_in),
                    ({"direction": "out"}, stats.messages_out),
                ],
            ),
            Metric.single(
                "ringfort_rtp_packets_relayed_total",
                "counter",
                "RTP packets relayed between phones.",
                self.media.packets_relayed,
            ),
            Metric.single(
                "ringfort_media_ports_in_use",
                "gauge",
                "RTP ports in use.",
                self.media.port_pool.in_use,
            ),
            Metric(
                "ringfort_errors_total",
                "counter",
                "Faults met and carried on from: SIP messages that did not parse, that could"
                " not be sent, and errors logged.",
                [
                    ({"kind": "sip_parse"}, stats.parse_errors),
                    ({"kind": "sip_send"}, stats.send_errors),
                    ({"kind": "logged"}, self.errors_logged.count),
                ],
            ),
        ]

    async def stop(self) -> None:
        """Stop in reverse order of start; pending writes are flushed."""
        self._ready = False
        if self.http is not None:
            await self.http.stop()
        if self.calls is not None and self.stack is not None:
            # Calls end with a BYE (and a CDR) while SIP is still up.
            await self.calls.close()
        if self.mwi is not None:
            await self.mwi.close()
        if self.mailer is not None:
            await self.mailer.close()
        for task in (self._keepalive, self._housekeeping, self._janitor, self._backups):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.stack is not None:
            await self.stack.close()
        if self.core is not None:
            await self.core.drain()
        if self.centre is not None:
            await self.centre.stop()
        await self.media.close()
        await self.cdr_writer.stop()
        await self.queue_log_writer.stop()
        await self.writer.stop()
        if self.directory is not None:
            await self.directory.close()
        await self.db.close()
        self.data_lock.release()
        logging.getLogger("ringfort").removeHandler(self.errors_logged)

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL)
            try:
                now = time.time()
                lapsed = self.location.expire(now)
                if lapsed:
                    log.info("%d registration(s) expired", len(lapsed))
                    self.writer.binding_change_deletes([(b.number, b.contact) for b in lapsed])
                for address in self.guard.expire(now):
                    log.info("block of %s ended", address)
                    self.writer.unblock(address)
                if self.calls is not None and self.settings.media.rtp_timeout > 0:
                    self.calls.check_media(time.monotonic())
            except Exception:
                log.exception("housekeeping failed")


async def serve(settings: Settings, *, demo: bool = False) -> None:
    """Run a node until SIGINT or SIGTERM, then shut it down cleanly."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Migrations narrate every plugin they load; only problems are news.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Before the node: how many port pairs it may keep open depends on the limit.
    limit = raise_open_file_limit()
    node = Node(settings)
    short = check_open_file_limit(
        limit, max_calls=settings.calls.max_calls, port_pairs=node.media.port_pool.capacity
    )
    if short is not None:
        log.warning("%s", short)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        try:
            created = await node.start(demo=demo)
        except OSError as error:
            raise RingfortError(
                f"cannot listen: {error.strerror or error}. Is another Ringfort (or another"
                " SIP or web server) using the address? Choose others with --sip HOST:PORT"
                " and --http HOST:PORT."
            ) from error
        # What start-up built (SQLAlchemy, FastAPI, pydantic: ~100,000 objects)
        # lives as long as the process. Frozen, it is out of the collector's
        # reach: a full collection then walks only call-time objects instead of
        # stalling the event loop for ~75 ms (measured) every few seconds.
        gc.freeze()
        # What a call allocates lives from milliseconds (a parsed message) to 32 s (a
        # transaction waiting out Timer L), so with the default thresholds (700, 10, 10)
        # every young collection moved live calls on and a full collection (up to 155 ms
        # here) followed every few seconds: 11 % of the CPU at 80 calls/s (measured).
        # Collecting the young every 50,000 allocations lets most of them die first, and a
        # full collection waits for 100 middle ones; reference counting frees the rest.
        gc.set_threshold(*GC_THRESHOLDS)
        for number, name, password in created:
            print(f"demo extension {number} ({name}): password {password}", flush=True)
        assert node.stack is not None
        sip = f"{settings.sip.address.host}:{node.stack.transport.port}"
        http = (
            f"http://{settings.http.address.host}:{node.http.port}"
            if node.http is not None
            else "off"
        )
        print(
            f"Ringfort ready: SIP udp+tcp {sip}, HTTP {http}, data {settings.data_dir}", flush=True
        )
        if node.http is not None and await UserService(node.db).count() == 0:
            print(
                "No users yet: the web interface and API answer only on this machine until"
                " you create the first admin: ringfort user add NAME --role admin",
                flush=True,
            )
        await stop.wait()
        print("Ringfort stopping...", flush=True)
    finally:
        await node.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _voicemail_mailer(
    settings: Settings, db: Database, voicemail: VoicemailService
) -> VoicemailMailer | None:
    """The sender of voicemail e-mail, when a mail server is configured."""
    smtp = settings.smtp
    if smtp.host is None:
        return None
    options = settings.voicemail
    return VoicemailMailer(
        db,
        voicemail,
        MailServer(
            host=smtp.host,
            port=smtp.port,
            security=smtp.security,
            username=smtp.username,
            password=smtp.password,
            sender=smtp.sender,
            timeout=smtp.timeout,
        ),
        templates=MailTemplates(options.email_subject, options.email_body),
        retry=timedelta(seconds=options.email_retry_seconds),
        give_up=timedelta(hours=options.email_give_up_hours),
    )
