"""CampaignService's editing actions on the real store with the in-process Sandbox: update
a draft or a scheduled campaign, delete a draft, the refusals that keep the state machine
honest, resume, and pause all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.services.campaigns.harness import Rig, order_campaign, rig
from waapp.core.entities import MissedSchedulePolicy, WindowPolicy
from waapp.core.errors import NotFound, ValidationError
from waapp.core.states import CampaignStatus
from waapp.services.campaigns.preflight import CampaignDraft

AT = datetime(2099, 1, 1, 9, 0, tzinfo=UTC)
_C = CampaignStatus


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


async def edited_draft(r: Rig, cid: int, **changes: Any) -> CampaignDraft:
    draft = CampaignDraft.of(await r.worker.run(r.service.repo.get, cid))
    for key, value in changes.items():
        setattr(draft, key, value)
    return draft


async def timeline(r: Rig, cid: int) -> list[tuple[str, str, str]]:
    report = await r.service.show(cid)
    return [(e.to_status.value, e.cause, e.detail) for e in report.timeline]


def test_update_replaces_what_a_draft_sends_and_notes_it(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=3) as r:
            cid = await order_campaign(r, pacing={"rate": 5.0})
            draft = await edited_draft(
                r,
                cid,
                name="Orders, second go",
                freeform_template_id=r.freeform_id,
                variable_mapping={"1": {"field": "first_name"}, "2": {"text": "#7"}},
                window_policy=WindowPolicy.FREEFORM_IN_WINDOW,
                exclude_opted_out=False,
                rate=None,
                jitter=(1.0, 4.0),
                hourly_cap=60,
                warmup=False,
                missed_schedule_policy=MissedSchedulePolicy.SKIP_IF_LATE,
                missed_after_hours=3,
            )
            updated = await r.service.update(cid, draft)
            assert updated.id == cid and updated.status is _C.DRAFT
            assert updated.name == "Orders, second go"
            assert updated.freeform_template_id == r.freeform_id
            assert updated.variable_mapping["2"] == {"text": "#7"}
            assert updated.window_policy is WindowPolicy.FREEFORM_IN_WINDOW
            assert updated.audience == {"group_ids": [r.group_id], "exclude_opted_out": False}
            assert updated.missed_schedule_policy is MissedSchedulePolicy.SKIP_IF_LATE
            assert updated.missed_after_hours == 3
            # Only what was set: the rate is back to the account's default.
            assert updated.pacing == {"jitter": [1.0, 4.0], "hourly_cap": 60, "warmup": False}
            assert (await timeline(r, cid))[-1] == ("draft", "user", "edited")
            # What the wizard reads back is what it saved.
            again = CampaignDraft.of(updated)
            assert again.pacing() == updated.pacing
            assert again.group_ids == [r.group_id] and not again.exclude_opted_out
            # And it sends as edited.
            await r.service.start(cid)
            assert (await r.service.wait(cid)).status is _C.COMPLETED
            assert len(r.sandbox.messages()) == 3

    run(body())


def test_update_checks_the_message_like_create(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=1) as r:
            cid = await order_campaign(r)
            draft = await edited_draft(r, cid, variable_mapping={"1": {"field": "first_name"}})
            with pytest.raises(ValidationError, match=r"\{\{2\}\}"):
                await r.service.update(cid, draft)
            draft = await edited_draft(r, cid, group_ids=[])
            with pytest.raises(ValidationError, match="at least one group"):
                await r.service.update(cid, draft)
            campaign = await r.worker.run(r.service.repo.get, cid)
            assert campaign.variable_mapping["2"] == {"field": "order"}  # unchanged

    run(body())


def test_update_edits_a_scheduled_campaign_in_one_go(tmp_path: Path, in_india: None) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=2) as r:
            cid = await order_campaign(r)
            await r.service.schedule(cid, AT, missed_policy=MissedSchedulePolicy.ASK)
            # The timeline shows the time as the user reads it: local, not UTC.
            assert (await timeline(r, cid))[-1] == (
                "scheduled",
                "user",
                "scheduled for Thu 1 Jan 2099 at 14:30",
            )
            before = len(await timeline(r, cid))

            later = AT + timedelta(days=1)
            draft = await edited_draft(
                r,
                cid,
                name="Orders, changed",
                scheduled_at=later,
                missed_schedule_policy=MissedSchedulePolicy.SKIP_IF_LATE,
                missed_after_hours=2,
                rate=2.0,
            )
            updated = await r.service.update(cid, draft)
            assert updated.status is _C.SCHEDULED
            assert updated.name == "Orders, changed"
            assert updated.scheduled_at == later
            assert updated.missed_schedule_policy is MissedSchedulePolicy.SKIP_IF_LATE
            assert updated.missed_after_hours == 2
            assert updated.pacing == {"rate": 2.0}
            notes = await timeline(r, cid)
            assert len(notes) == before + 1  # one entry, no trip through draft
            assert notes[-1] == (
                "scheduled",
                "user",
                "edited; now scheduled for Fri 2 Jan 2099 at 14:30",
            )

            # The same time: just "edited".
            draft = await edited_draft(r, cid, name="Orders, again")
            assert (await r.service.update(cid, draft)).scheduled_at == later
            assert (await timeline(r, cid))[-1] == ("scheduled", "user", "edited")

            # No time ("send as soon as I confirm"): back to draft, for the caller to start.
            draft = await edited_draft(r, cid, scheduled_at=None)
            updated = await r.service.update(cid, draft)
            assert updated.status is _C.DRAFT and updated.scheduled_at is None
            assert (await timeline(r, cid))[-1] == (
                "draft",
                "user",
                "edited; schedule removed (back to draft)",
            )

    run(body())


def test_update_refuses_a_campaign_that_started_or_finished(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=2) as r:
            done = await order_campaign(r)
            await r.service.start(done)
            assert (await r.service.wait(done)).status is _C.COMPLETED
            # Started after: campaigns of one account share its pace, at the slowest rate.
            slow = await order_campaign(r, pacing={"rate": 0.01})  # one message, then 100 s
            await r.service.start(slow)
            cancelled = await order_campaign(r)
            await r.service.schedule(cancelled, AT)
            await r.service.cancel(cancelled)
            try:
                for cid, status in ((slow, "sending"), (done, "completed")):
                    draft = await edited_draft(r, cid, name="Changed")
                    with pytest.raises(ValidationError) as error:
                        await r.service.update(cid, draft)
                    assert error.value.message == (
                        f"“Orders” is {status}: only a draft or a scheduled campaign can be "
                        "changed."
                    )
                    assert "duplicate it" in error.value.what_to_do
                await r.service.pause(slow)
                for cid, status in ((slow, "paused"), (cancelled, "cancelled")):
                    with pytest.raises(ValidationError, match=f"is {status}: only a draft"):
                        await r.service.update(cid, await edited_draft(r, cid, name="Changed"))
                for cid in (slow, done, cancelled):  # nothing was changed nor noted
                    campaign = await r.worker.run(r.service.repo.get, cid)
                    assert campaign.name == "Orders"
                    assert not [n for n in await timeline(r, cid) if "edited" in n[2]]
            finally:
                await r.service.cancel(slow)

    run(body())


def test_pause_all_pauses_every_sending_campaign_and_says_which(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=3) as r:
            done = await order_campaign(r)
            await r.service.start(done)
            assert (await r.service.wait(done)).status is _C.COMPLETED
            draft = await order_campaign(r)
            slow = []
            for _ in range(2):  # one message each, then one every 100 s
                cid = await order_campaign(r, pacing={"rate": 0.01})
                await r.service.start(cid)
                slow.append(cid)

            paused = await r.service.pause_all("paused from the tray (Pause all)")
            assert sorted(c.id for c in paused) == slow
            assert all(c.status is _C.PAUSED for c in paused)
            for cid in slow:
                assert (await timeline(r, cid))[-1] == (
                    "paused",
                    "user",
                    "paused from the tray (Pause all)",
                )
                assert r.service.engine.running(cid) is False
            assert (await r.worker.run(r.service.repo.get, done)).status is _C.COMPLETED
            assert (await r.worker.run(r.service.repo.get, draft)).status is _C.DRAFT
            # Nothing sending any more: nothing to pause, no timeline entry.
            assert await r.service.pause_all("again") == []
            assert (await timeline(r, slow[0]))[-1][2] == "paused from the tray (Pause all)"

    run(body())


def test_delete_removes_a_draft_only(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=1) as r:
            cid = await order_campaign(r)
            assert await r.service.delete(cid) == "Orders"
            with pytest.raises(NotFound):
                await r.worker.run(r.service.repo.get, cid)
            assert await r.service.list() == []

            scheduled = await order_campaign(r)
            await r.service.schedule(scheduled, AT)
            with pytest.raises(ValidationError, match="only a draft can be deleted"):
                await r.service.delete(scheduled)
            assert (await r.worker.run(r.service.repo.get, scheduled)).status is _C.SCHEDULED

    run(body())


def test_resume_refuses_a_completed_campaign(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=2) as r:
            cid = await order_campaign(r)
            await r.service.start(cid)
            assert (await r.service.wait(cid)).status is _C.COMPLETED
            with pytest.raises(ValidationError, match="only a paused or failed") as error:
                await r.service.resume(cid)
            assert "Retry failed" in error.value.what_to_do
            assert (await r.worker.run(r.service.repo.get, cid)).status is _C.COMPLETED
            assert len(r.sandbox.messages()) == 2  # nothing sent again

            draft = await order_campaign(r)
            with pytest.raises(ValidationError, match="is draft") as error:
                await r.service.resume(draft)
            assert error.value.what_to_do == "Start it instead."

    run(body())


def test_pause_says_why_on_the_timeline(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=200, engine={"rate": 50.0, "in_flight": 2}) as r:
            cid = await order_campaign(r)
            await r.service.start(cid)
            await r.service.pause(cid, detail="paused when waapp was quit")
            campaign = await r.worker.run(r.service.repo.get, cid)
            notes = await timeline(r, cid)
            if campaign.status is _C.PAUSED:
                assert notes[-1] == ("paused", "user", "paused when waapp was quit")
            else:  # the requests in flight were the last ones: it completed meanwhile
                assert ("paused", "user", "paused when waapp was quit") in notes

    run(body())
