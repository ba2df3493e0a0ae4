"""CampaignService's editing actions on the real store with the in-process Sandbox: update
and delete a draft, the refusals that keep the state machine honest, and resume."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
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


def test_only_a_draft_can_be_updated(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=2) as r:
            cid = await order_campaign(r)
            await r.service.schedule(cid, AT)
            draft = await edited_draft(r, cid, name="Changed")
            with pytest.raises(ValidationError, match="only a draft can be changed") as error:
                await r.service.update(cid, draft)
            assert "goes back to draft" in error.value.what_to_do
            # The edit path: back to draft (noted), change, schedule again.
            await r.service.unschedule(cid, detail="back to draft to edit it")
            assert (await r.service.update(cid, draft)).name == "Changed"
            await r.service.schedule(cid, AT, note="edited")
            notes = await timeline(r, cid)
            assert ("draft", "user", "back to draft to edit it") in notes
            assert notes[-1][0] == "scheduled" and notes[-1][2].startswith("edited; scheduled")

            started = await order_campaign(r)
            await r.service.start(started)
            await r.service.wait(started)
            with pytest.raises(ValidationError, match="is completed"):
                await r.service.update(started, await edited_draft(r, started))

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
