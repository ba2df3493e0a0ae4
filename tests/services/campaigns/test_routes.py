"""The 24 h window policies and the re-route to the template (Meta dialect, the Sandbox)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.services.campaigns.harness import BRISK, Rig, now, phone, rig
from waapp.core.entities import AccountKind, Route, WindowPolicy
from waapp.core.states import CampaignStatus, MessageState
from waapp.services.campaigns.preflight import CampaignDraft
from waapp.store.schema import format_utc

MAPPING = {"1": {"field": "first_name"}, "2": {"field": "order"}}


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


async def wrote_to_us(r: Rig, indexes: range, *, sandbox: bool) -> None:
    """These contacts wrote: in our store (what the planning reads), and at the Sandbox
    (its window) unless ``sandbox`` is False."""

    def mark() -> None:
        with r.db.engine.begin() as conn:
            for i in indexes:
                conn.exec_driver_sql(
                    "UPDATE contacts SET last_inbound_at = ? WHERE phone_e164 = ?",
                    (format_utc(now()), phone(i)),
                )

    await r.worker.run(mark)
    if sandbox:
        for i in indexes:
            r.sandbox.inbound(phone(i), "hi")


async def campaign(r: Rig, *, template: bool, policy: WindowPolicy | None = None) -> int:
    created = await r.service.create(
        name="Note",
        account_id=r.account_id,
        group_ids=[r.group_id],
        template_id=r.template_id if template else None,
        freeform_template_id=r.freeform_id,
        variable_mapping=MAPPING,
        window_policy=policy,
    )
    assert created.id is not None
    return created.id


def test_freeform_in_window_gets_free_form_others_the_template(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=10) as r:
            await wrote_to_us(r, range(4), sandbox=True)
            cid = await campaign(r, template=True)
            assert (await r.worker.run(r.service.repo.get, cid)).window_policy is (
                WindowPolicy.FREEFORM_IN_WINDOW
            )
            await r.service.start(cid)
            assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED
            assert await r.check_ledger(cid) == {"sent": 10}
            rows = await r.worker.run(r.service.repo.messages, cid)
            assert [m.route for m in rows] == [Route.FREEFORM] * 4 + [Route.TEMPLATE] * 6
            by_to = {m["to"]: m for m in r.sandbox.messages()}
            assert by_to[phone(2)]["text"] == "Hello Person!"
            assert by_to[phone(2)]["template"] is None
            assert by_to[phone(5)]["template"] == "order_update"
            assert by_to[phone(5)]["variables"] == {"1": "Person", "2": "#5"}

    run(body())


def test_a_window_refusal_is_re_routed_to_the_template_and_sent_once(tmp_path: Path) -> None:
    async def body() -> None:
        # Our store thinks 0–2 wrote recently; the Sandbox's window is closed for them, and
        # it answers 131047 at once.
        async with rig(tmp_path, contacts=6, scenario={"meta_sync_errors": [131047]}) as r:
            await wrote_to_us(r, range(3), sandbox=False)
            cid = await campaign(r, template=True)
            await r.service.start(cid)
            assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED
            assert await r.check_ledger(cid) == {"sent": 6}
            rows = await r.worker.run(r.service.repo.messages, cid)
            assert all(m.route is Route.TEMPLATE for m in rows)  # 0–2 re-routed
            assert [m.attempts for m in rows] == [1] * 6  # the refusal cost no attempt
            accepted = r.sandbox.messages()
            assert sorted(m["to"] for m in accepted) == [phone(i) for i in range(6)]
            assert {m["template"] for m in accepted} == {"order_update"}

    run(body())


def test_freeform_only_skips_outside_window_recipients_with_the_reason(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=5) as r:
            await wrote_to_us(r, range(2), sandbox=True)
            cid = await campaign(r, template=False)
            assert (await r.worker.run(r.service.repo.get, cid)).window_policy is (
                WindowPolicy.FREEFORM_ONLY
            )
            await r.service.start(cid)
            assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED
            assert await r.check_ledger(cid) == {"sent": 2, "skipped": 3}
            rows = await r.worker.run(r.service.repo.messages, cid)
            skipped = [m for m in rows if m.state is MessageState.SKIPPED]
            assert [m.phone_e164 for m in skipped] == [phone(i) for i in range(2, 5)]
            assert {m.error_detail for m in skipped} == {
                "outside the 24-hour window, and the campaign sends free-form messages only"
            }
            assert sorted(m["to"] for m in r.sandbox.messages()) == [phone(0), phone(1)]

    run(body())


def test_a_whatsapp_web_gateway_has_no_window_so_the_free_form_message_reaches_everyone(
    tmp_path: Path,
) -> None:
    """WaSender sends as a person does: nobody wrote to us, yet nobody is skipped."""

    async def body() -> None:
        async with rig(tmp_path, contacts=6, kind=AccountKind.WASENDER) as r:
            draft = CampaignDraft(
                name="Note",
                account_id=r.account_id,
                group_ids=[r.group_id],
                template_id=None,
                freeform_template_id=r.freeform_id,
                variable_mapping=MAPPING,
            )
            report = await r.service.preflight(draft)
            assert report.blocking == ()
            assert (report.freeform, report.out_of_window, report.window_skipped.count) == (6, 0, 0)
            assert "no 24-hour window" in " ".join(report.routing)
            assert not report.window_applies
            created = await r.service.create(
                name="Note",
                account_id=r.account_id,
                group_ids=[r.group_id],
                freeform_template_id=r.freeform_id,
                variable_mapping=MAPPING,
                pacing=BRISK,
            )
            assert created.id is not None
            await r.service.start(created.id)
            assert (await r.service.wait(created.id)).status is CampaignStatus.COMPLETED
            counts = await r.check_ledger(created.id)
            assert counts.get("skipped", 0) == 0
            assert sum(counts.get(s, 0) for s in ("sent", "delivered", "read")) == 6
            assert len(await r.counts_at_sandbox()) == 6

    run(body())
