"""The scheduler: starts scheduled campaigns when their time comes.

Every ``interval`` seconds :meth:`CampaignScheduler.tick` looks at the ``scheduled``
campaigns. One whose time came within ``grace`` (two intervals by default) is started. One
whose time passed longer ago was missed — waapp was closed then — and its missed-schedule
policy decides:

- ``send_anyway``: start it, with "started late" on its timeline;
- ``skip_if_late``: start it when it is late by at most ``missed_after_hours``, otherwise
  back to ``draft`` with the reason on its timeline;
- ``ask``: leave it scheduled with one timeline entry "waiting for you" (and a
  ``CampaignChanged`` event); the user starts or cancels it.

The decision depends only on the database and the clock, so a tick is safe to repeat: a
started campaign is no longer ``scheduled``, and the "waiting for you" entry is written once
per scheduling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from waapp.core.entities import Campaign, CampaignEvent, MissedSchedulePolicy
from waapp.core.errors import WaappError
from waapp.core.states import CampaignStatus
from waapp.services.campaigns.timeline import local_time

if TYPE_CHECKING:
    from waapp.services.campaigns.service import CampaignService

__all__ = ["ASK_NOTE", "CAUSE", "CampaignScheduler", "now_utc"]

log = logging.getLogger(__name__)

_C = CampaignStatus
_P = MissedSchedulePolicy

#: The ``cause`` of the scheduler's timeline entries.
CAUSE = "scheduler"
ASK_NOTE = "waiting for you: the scheduled time passed while waapp was closed"


def now_utc() -> datetime:
    return datetime.now(UTC)


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def _asked(timeline: list[CampaignEvent]) -> bool:
    """Whether the "waiting for you" entry is on the timeline since the last scheduling."""
    for event in reversed(timeline):
        if event.cause == CAUSE and event.detail == ASK_NOTE:
            return True
        if event.to_status is _C.SCHEDULED and event.from_status is not _C.SCHEDULED:
            return False
    return False


class CampaignScheduler:
    def __init__(
        self,
        service: CampaignService,
        *,
        clock: Callable[[], datetime] = now_utc,
        interval: float = 15.0,
        grace: float | None = None,
    ) -> None:
        self._service = service
        self._clock = clock
        self.interval = interval
        self.grace = timedelta(seconds=2 * interval if grace is None else grace)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping: asyncio.Event | None = None

    # --- one look ----------------------------------------------------------------------

    async def tick(self) -> None:
        """Act on every scheduled campaign that is due (see the module doc)."""
        async with self._lock:
            for campaign in await self._service.list(_C.SCHEDULED):
                assert campaign.id is not None
                try:
                    await self._consider(campaign)
                except WaappError as exc:  # started, cancelled or changed meanwhile
                    log.warning("scheduler: campaign %s: %s", campaign.id, exc)
                except Exception:
                    log.exception("scheduler: campaign %s raised", campaign.id)

    async def _consider(self, campaign: Campaign) -> None:
        assert campaign.id is not None
        at = campaign.scheduled_at
        if at is None:  # scheduled without a time: nothing to go by, the user starts it
            return
        now = self._clock()
        late = now - at
        if late < timedelta(0):
            return
        if late <= self.grace:
            await self._service.start(campaign.id, cause=CAUSE, note="scheduled start")
            return
        closed = f"the app was closed on {local_time(at)}, the scheduled time"
        policy = campaign.missed_schedule_policy
        allowed = timedelta(hours=campaign.missed_after_hours)
        if policy is _P.SEND_ANYWAY:
            await self._service.start(campaign.id, cause=CAUSE, note=f"started late ({closed})")
        elif policy is _P.SKIP_IF_LATE and late <= allowed:
            await self._service.start(
                campaign.id,
                cause=CAUSE,
                note=f"started late by {_hours(late)} ({closed}; "
                f"within the {campaign.missed_after_hours} h allowed)",
            )
        elif policy is _P.SKIP_IF_LATE:
            await self._service.unschedule(
                campaign.id,
                cause=CAUSE,
                detail=f"skipped: {_hours(late)} late ({closed}), more than the "
                f"{campaign.missed_after_hours} h allowed; back to draft",
            )
        else:  # ASK
            report = await self._service.show(campaign.id)
            if not _asked(report.timeline):
                await self._service.note(campaign.id, cause=CAUSE, detail=ASK_NOTE)

    # --- the loop ----------------------------------------------------------------------

    async def start(self) -> None:
        """Tick now, then every ``interval`` seconds until :meth:`stop`."""
        if self._task is not None:
            return
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._loop(self._stopping), name="campaign-scheduler")

    async def stop(self) -> None:
        """Stop the loop; a tick under way finishes first (a start is never cut in half)."""
        task, stopping = self._task, self._stopping
        self._task = self._stopping = None
        if task is None or stopping is None:
            return
        stopping.set()
        await task

    async def _loop(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler: a tick raised")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.interval)
