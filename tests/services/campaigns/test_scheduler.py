"""The scheduler on the real store with the in-process Sandbox, with an injected clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.services.campaigns.harness import Rig, order_campaign, rig
from waapp.core.entities import MissedSchedulePolicy
from waapp.core.errors import InvalidTransition, ValidationError
from waapp.core.states import CampaignStatus
from waapp.services.campaigns.scheduler import ASK_NOTE, CAUSE, CampaignScheduler
from waapp.services.events import CampaignChanged

AT = datetime(2099, 1, 1, 9, 0, tzinfo=UTC)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def scheduled(
    r: Rig, policy: MissedSchedulePolicy = MissedSchedulePolicy.ASK, hours: int = 6
) -> int:
    cid = await order_campaign(r)
    campaign = await r.service.schedule(cid, AT, missed_policy=policy, missed_after_hours=hours)
    assert campaign.status is CampaignStatus.SCHEDULED
    assert campaign.scheduled_at == AT
    assert campaign.missed_schedule_policy is policy
    return cid


async def status(r: Rig, cid: int) -> CampaignStatus:
    return (await r.worker.run(r.service.repo.get, cid)).status


async def scheduler_notes(r: Rig, cid: int) -> list[str]:
    report = await r.service.show(cid)
    return [e.detail for e in report.timeline if e.cause == CAUSE]


def test_a_due_campaign_starts_once_and_completes(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=10) as r:
            cid = await scheduled(r)
            clock = Clock(AT - timedelta(seconds=1))
            scheduler = CampaignScheduler(r.service, clock=clock, interval=15.0)
            await scheduler.tick()
            assert await status(r, cid) is CampaignStatus.SCHEDULED  # not yet due

            clock.now = AT + timedelta(seconds=5)
            await asyncio.gather(scheduler.tick(), scheduler.tick())
            await scheduler.tick()
            campaign = await r.service.wait(cid)
            assert campaign.status is CampaignStatus.COMPLETED
            await scheduler.tick()
            counts = await r.check_ledger(cid)  # nobody got it twice
            assert counts.get("pending", 0) == 0
            assert len(r.sandbox.messages()) == 10
            notes = await scheduler_notes(r, cid)
            assert len(notes) == 1 and notes[0].startswith("scheduled start; started: 10")

    run(body())


@pytest.mark.usefixtures("in_india")  # the note speaks the user's local time
def test_send_anyway_starts_late_with_a_note(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=5) as r:
            cid = await scheduled(r, MissedSchedulePolicy.SEND_ANYWAY)
            clock = Clock(AT + timedelta(days=3))
            await CampaignScheduler(r.service, clock=clock).tick()
            assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED
            (note,) = await scheduler_notes(r, cid)
            assert note.startswith(
                "started late (the app was closed on Thu 1 Jan 2099 at 14:30, the scheduled time"
            )

    run(body())


def test_skip_if_late_starts_within_the_allowed_hours(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=5) as r:
            cid = await scheduled(r, MissedSchedulePolicy.SKIP_IF_LATE, hours=6)
            clock = Clock(AT + timedelta(hours=5))
            await CampaignScheduler(r.service, clock=clock).tick()
            assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED
            (note,) = await scheduler_notes(r, cid)
            assert note.startswith("started late by 5.0 h")

    run(body())


def test_skip_if_late_goes_back_to_draft_when_too_late(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=5) as r:
            cid = await scheduled(r, MissedSchedulePolicy.SKIP_IF_LATE, hours=6)
            scheduler = CampaignScheduler(r.service, clock=Clock(AT + timedelta(hours=7)))
            await scheduler.tick()
            await scheduler.tick()
            campaign = await r.worker.run(r.service.repo.get, cid)
            assert campaign.status is CampaignStatus.DRAFT
            assert campaign.scheduled_at is None
            (note,) = await scheduler_notes(r, cid)
            assert note.startswith("skipped: 7.0 h late")
            assert "more than the 6 h allowed" in note
            assert r.sandbox.messages() == []
            assert await r.worker.run(r.service.repo.messages, cid) == []

    run(body())


def test_ask_waits_for_the_user_with_one_note(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=5) as r:
            cid = await scheduled(r, MissedSchedulePolicy.ASK)
            seen: list[int] = []
            r.service._bus.subscribe(CampaignChanged, lambda e: seen.append(e.campaign_id))
            scheduler = CampaignScheduler(r.service, clock=Clock(AT + timedelta(hours=1)))
            for _ in range(3):
                await scheduler.tick()
            assert await status(r, cid) is CampaignStatus.SCHEDULED
            assert await scheduler_notes(r, cid) == [ASK_NOTE]
            assert seen == [cid]
            assert r.sandbox.messages() == []

            await r.service.start(cid)  # the user's answer
            assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED
            await scheduler.tick()
            assert await scheduler_notes(r, cid) == [ASK_NOTE]

    run(body())


def test_ask_again_after_being_scheduled_again(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=3) as r:
            cid = await scheduled(r, MissedSchedulePolicy.ASK)
            scheduler = CampaignScheduler(r.service, clock=Clock(AT + timedelta(hours=1)))
            await scheduler.tick()
            await r.service.unschedule(cid)
            await r.service.schedule(cid, AT, missed_policy=MissedSchedulePolicy.ASK)
            await scheduler.tick()
            await scheduler.tick()
            assert await scheduler_notes(r, cid) == [ASK_NOTE, ASK_NOTE]
            await r.service.cancel(cid)  # the user cancels instead
            await scheduler.tick()
            assert await status(r, cid) is CampaignStatus.CANCELLED

    run(body())


def test_unschedule_goes_back_to_draft(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=3) as r:
            cid = await scheduled(r)
            campaign = await r.service.unschedule(cid)
            assert campaign.status is CampaignStatus.DRAFT
            assert campaign.scheduled_at is None
            await CampaignScheduler(r.service, clock=Clock(AT + timedelta(seconds=1))).tick()
            assert await status(r, cid) is CampaignStatus.DRAFT
            with pytest.raises(ValidationError):
                await r.service.unschedule(cid)
            report = await r.service.show(cid)
            assert [(e.to_status.value, e.detail) for e in report.timeline][-1] == (
                "draft",
                "schedule removed",
            )

    run(body())


def test_schedule_refuses_a_naive_time_and_a_campaign_that_is_not_a_draft(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=3) as r:
            cid = await order_campaign(r)
            with pytest.raises(ValidationError):
                await r.service.schedule(cid, datetime(2099, 1, 1, 9, 0))
            with pytest.raises(ValidationError):
                await r.service.schedule(cid, AT, missed_after_hours=0)
            await r.service.schedule(cid, AT)
            with pytest.raises(InvalidTransition):
                await r.service.schedule(cid, AT)

    run(body())


def test_the_loop_ticks_and_stops(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=3) as r:
            cid = await scheduled(r)
            scheduler = CampaignScheduler(
                r.service, clock=Clock(AT + timedelta(seconds=1)), interval=0.05, grace=60
            )
            await scheduler.start()
            await scheduler.start()  # once
            try:
                for _ in range(200):
                    if await status(r, cid) is not CampaignStatus.SCHEDULED:
                        break
                    await asyncio.sleep(0.02)
            finally:
                await scheduler.stop()
            await scheduler.stop()  # harmless
            assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED
            await r.check_ledger(cid)

    run(body())
