"""Backups the server makes by itself, when ``backup.schedule`` says, keeping the newest N."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo

from ringfort.cron import CronSchedule
from ringfort.services.backup import BackupResult, BackupService

__all__ = ["ScheduledBackups"]

log = logging.getLogger(__name__)

_LONGEST_NAP = 60.0
"""A sleep is cut into naps this long, so a change of the wall clock (NTP, a suspended VM)
moves the run no later than this."""


class ScheduledBackups:
    """Runs a backup at each time the cron schedule names, then deletes the oldest beyond
    ``keep``. A failed backup is logged and the next one still runs."""

    def __init__(
        self,
        *,
        backups: BackupService,
        schedule: CronSchedule,
        keep: int,
        parts: Sequence[str],
        zone: tzinfo,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._backups = backups
        self._schedule = schedule
        self._keep = keep
        self._parts = tuple(parts)
        self._zone = zone
        self._wall = wall

    def next_due(self) -> datetime:
        """When the next backup is due, in the schedule's zone."""
        now = datetime.fromtimestamp(self._wall(), self._zone)
        return self._schedule.next_after(now)

    async def run_once(self) -> BackupResult:
        """Make one backup now and apply the retention."""
        result = await self._backups.create(parts=self._parts)
        log.info(
            "backup %s written: %d files, %d bytes in %.1f s",
            result.path,
            len(result.manifest.members),
            result.size,
            result.seconds,
        )
        for removed in self._backups.prune(self._keep):
            log.info("old backup %s deleted (keeping the newest %d)", removed, self._keep)
        return result

    async def run_forever(self) -> None:
        """Sleep until each due time and back up; returns only when cancelled."""
        while True:
            due = self.next_due()
            log.info("next backup at %s", due.isoformat(timespec="minutes"))
            left = due.timestamp() - self._wall()
            while left > 0:
                await asyncio.sleep(min(left, _LONGEST_NAP))
                left = due.timestamp() - self._wall()
            try:
                await self.run_once()
            except Exception:
                log.exception("scheduled backup failed")
