"""The campaign engine on the real store against the in-process Sandbox (Meta dialect)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.services.campaigns.conftest import FIGURES
from tests.services.campaigns.harness import now, order_campaign, phone, rig, until
from waapp.core.entities import Contact, Template
from waapp.core.ports import SendResult, StatusUpdate
from waapp.core.states import CampaignStatus, DeliveryStatus
from waapp.store.statuses import IncomingEvent


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_a_campaign_sends_each_recipient_once_and_skips_with_reasons(tmp_path: Path) -> None:
    extra = [
        Contact(
            phone_e164=phone(900),
            name="Gone",
            fields={"order": "#9"},
            opted_out_at=now(),
            opt_out_reason="Replied STOP",
        ),
        Contact(phone_e164=phone(901), name="No Order"),  # {{2}} cannot be rendered
    ]

    async def body() -> None:
        async with rig(tmp_path, contacts=40, extra_contacts=extra) as r:
            cid = await order_campaign(r)
            await r.service.start(cid)
            campaign = await r.service.wait(cid)
            assert campaign.status is CampaignStatus.COMPLETED
            counts = await r.check_ledger(cid)
            assert counts.get("skipped") == 2
            assert sum(counts.values()) == 42
            rows = await r.worker.run(r.service.repo.messages, cid)
            skipped = {m.phone_e164: m.error_detail or "" for m in rows if m.state == "skipped"}
            assert skipped[phone(900)].startswith("opted out")
            assert "cannot be rendered" in skipped[phone(901)]
            sent = [m for m in rows if m.state != "skipped"]
            assert all(m.provider_message_id and m.attempts == 1 for m in sent)
            assert sent[0].variables == {"1": "Person", "2": "#0"}
            accepted = await r.counts_at_sandbox()
            assert len(accepted) == 40
            by_to = {m["to"]: m for m in r.sandbox.messages()}
            # What the Sandbox received for recipient 7: the template with its own frozen values.
            assert by_to[phone(7)]["template"] == "order_update"
            assert by_to[phone(7)]["variables"] == {"1": "Person", "2": "#7"}
            timeline = [(e.to_status.value, e.cause) for e in (await r.service.show(cid)).timeline]
            assert [s for s, _ in timeline] == ["draft", "scheduled", "sending", "completed"]

    run(body())


def test_the_claim_is_committed_before_the_request_leaves(tmp_path: Path) -> None:
    seen: list[tuple[str, int]] = []

    async def body() -> None:
        async with rig(tmp_path, contacts=12) as r:
            real = r.provider
            path = r.db.path

            class Checking:
                kind = real.kind
                dialect = real.dialect

                async def send_template(
                    self,
                    to: str,
                    template: Template,
                    variables: Mapping[str, str],
                    *,
                    reference: str,
                ) -> SendResult:
                    # Another connection (another process could be this) sees the claim.
                    conn = sqlite3.connect(path)
                    row = conn.execute(
                        "SELECT state, attempts FROM messages WHERE id = ?", (int(reference),)
                    ).fetchone()
                    conn.close()
                    seen.append(row)
                    return await real.send_template(to, template, variables, reference=reference)

            async def provider_for(_a: int) -> Any:
                return Checking()

            r.service.engine._provider_for = provider_for
            cid = await order_campaign(r)
            await r.service.start(cid)
            assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED
            await r.check_ledger(cid)

    run(body())
    assert seen == [("sending", 1)] * 12


def test_a_receipt_that_overtakes_the_send_result_is_kept(tmp_path: Path) -> None:
    from waapp.core.states import MessageState
    from waapp.store.campaigns import SendOutcome

    async def body() -> None:
        async with rig(tmp_path, contacts=3, engine={"rate": 0.5, "in_flight": 1}) as r:
            cid = await order_campaign(r)
            repo = r.service.repo
            # Freeze the ledger without a runner: start, then stop the engine at once.
            await r.service.start(cid)
            await r.service.pause(cid)
            await r.service.wait(cid)
            await r.worker.run(repo.set_status, cid, CampaignStatus.SENDING, cause="test")
            rows = await r.worker.run(repo.messages, cid)
            pending = [m for m in rows if m.state in ("pending", "retry_wait")]
            assert pending  # the slow pace left rows to claim by hand
            claimed = await r.worker.run(repo.claim, cid, limit=1)
            message = claimed[0]
            assert message.id is not None
            # The delivery receipt (our reference echoed) arrives before our result.
            await r.worker.run(
                r.db.statuses.apply,
                [
                    IncomingEvent(
                        r.account_id,
                        StatusUpdate(
                            "wamid.X", DeliveryStatus.DELIVERED, now(), reference=str(message.id)
                        ),
                        received_at=now(),
                    )
                ],
            )
            await r.worker.run(
                repo.record_results,
                [SendOutcome(message.id, MessageState.SENT, provider_message_id="wamid.X")],
            )
            row = next(m for m in await r.worker.run(repo.messages, cid) if m.id == message.id)
            assert row.state is MessageState.DELIVERED
            assert row.provider_message_id == "wamid.X"
            campaign = await r.worker.run(repo.get, cid)
            assert campaign.counters == await r.worker.run(repo.recount, cid)

    run(body())


def test_rows_left_sending_become_unknown_and_a_later_receipt_reconciles_them(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=5) as r:
            repo = r.service.repo
            cid = await order_campaign(r)
            # Simulate a crash right after the claim: rows sending, no runner.
            from waapp.services.campaigns.planning import plan_messages  # noqa: F401

            await r.worker.run(r.db.accounts.get, r.account_id)
            r.service.engine.run = lambda _cid: asyncio.get_running_loop().create_future()  # type: ignore[method-assign,assignment,return-value]
            await r.service.start(cid)
            claimed = await r.worker.run(repo.claim, cid, limit=2)
            assert len(claimed) == 2
            # "Restart": a new service over the same store runs the recovery.
            from waapp.services.campaigns import CampaignService
            from waapp.services.events import EventBus

            async def provider_for(_a: int) -> Any:
                return r.provider

            fresh = CampaignService(
                db=r.db,
                worker=r.worker,
                provider_for=provider_for,
                bus=EventBus(),
                engine_settings={"idle_poll": 0.05},
            )
            await fresh.start_engine()
            await fresh.wait(cid)
            report = await fresh.show(cid)
            assert report.counts.get("unknown") == 2
            assert (
                report.counts.get("sent", 0)
                + report.counts.get("delivered", 0)
                + report.counts.get("read", 0)
                == 3
            )
            assert report.campaign.status is CampaignStatus.PAUSED
            causes = [e.cause for e in report.timeline]
            assert "recovery" in causes
            assert "unknown outcome" in report.timeline[-1].detail
            # Nothing was resent: the unknown rows never reached the Sandbox here.
            accepted = await r.counts_at_sandbox()
            assert all(accepted.get(m.phone_e164, 0) == 0 for m in claimed)
            # Meta's status webhook echoes our reference: the row is reconciled.
            first = claimed[0]
            await r.worker.run(
                r.db.statuses.apply,
                [
                    IncomingEvent(
                        r.account_id,
                        StatusUpdate(
                            "wamid.late", DeliveryStatus.SENT, now(), reference=str(first.id)
                        ),
                        received_at=now(),
                    )
                ],
            )
            rows = {m.id: m for m in await r.worker.run(repo.messages, cid)}
            assert rows[first.id].state == "sent"
            assert rows[first.id].provider_message_id == "wamid.late"
            # The user resolves the other: "send again", then resume → completed.
            assert claimed[1].id is not None
            assert await fresh.resolve_unknown(cid, [claimed[1].id], send_again=True) == 1
            await fresh.resume(cid)
            assert (await fresh.wait(cid)).status is CampaignStatus.COMPLETED
            # (The receipt above was synthetic: that row was never at the Sandbox.)
            accepted = await r.counts_at_sandbox()
            assert max(accepted.values()) == 1 and len(accepted) == 4
            campaign = await r.worker.run(repo.get, cid)
            assert campaign.counters == await r.worker.run(repo.recount, cid)
            await fresh.stop_engine()

    run(body())


def test_pause_and_resume_storm_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=300, engine={"rate": 400.0, "in_flight": 8}) as r:
            cid = await order_campaign(r)
            await r.service.start(cid)
            pauses = 0
            while (await r.worker.run(r.service.repo.get, cid)).status is CampaignStatus.SENDING:
                await asyncio.sleep(0.03)
                campaign = await r.worker.run(r.service.repo.get, cid)
                if campaign.status is not CampaignStatus.SENDING:
                    break
                await r.service.pause(cid)
                pauses += 1
                mid = await r.check_ledger(cid)
                assert "sending" not in mid  # drained before pause returned
                if (await r.worker.run(r.service.repo.get, cid)).status is CampaignStatus.COMPLETED:
                    break  # the drain wrote the last outcomes: nothing left to resume
                await r.service.resume(cid)
            assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED
            counts = await r.check_ledger(cid)
            assert sum(counts.get(s, 0) for s in ("sent", "delivered", "read")) == 300
            assert len(await r.counts_at_sandbox()) == 300
            assert pauses >= 5
            FIGURES.storm = (
                f"pause-resume: {pauses} pauses, 300 recipients, 0 duplicates, 0 skipped, "
                "counters == recount after every pause"
            )

    run(body())


def test_cancel_and_retry_failed(tmp_path: Path) -> None:
    async def body() -> None:
        # Numbers ending in 404 are not on WhatsApp; 131026 answered at once: NEVER.
        lost = [
            Contact(phone_e164=f"+1415555{i}404", name="Lost", fields={"order": "#x"})
            for i in range(3)
        ]
        async with rig(
            tmp_path, contacts=20, extra_contacts=lost, scenario={"meta_sync_errors": [131026]}
        ) as r:
            cid = await order_campaign(r)
            await r.service.start(cid)
            assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED
            counts = await r.check_ledger(cid)
            assert counts.get("failed", 0) > 0
            rows = await r.worker.run(r.service.repo.messages, cid)
            codes = {m.error_code for m in rows if m.state == "failed"}
            assert codes == {"131026"} and counts["failed"] == 3
            assert await r.service.retry_failed(cid, codes=["nope"]) == 0
            # The user fixed the numbers' problem (here: the Sandbox now accepts them).
            r.sandbox.configure(scenario={**FAST_NO_ERRORS, "not_on_whatsapp_suffix": None})
            assert await r.service.retry_failed(cid, codes=["131026"]) == 3
            assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED
            counts = await r.check_ledger(cid)
            assert "failed" not in counts and len(await r.counts_at_sandbox()) == 23

            other = await r.service.duplicate(cid)
            assert other.id is not None and other.status is CampaignStatus.DRAFT
            await r.service.start(other.id)
            await r.service.cancel(other.id)
            final = await r.service.show(other.id)
            assert final.campaign.status is CampaignStatus.CANCELLED
            assert not {"pending", "retry_wait", "sending"} & set(final.counts)
            assert final.campaign.counters == final.counts

    run(body())


from tests.services.campaigns.harness import FAST as _FAST  # noqa: E402

FAST_NO_ERRORS = dict(_FAST)


def test_a_campaign_another_process_started_is_picked_up_and_sent_once(tmp_path: Path) -> None:
    """``waapp campaign send`` without ``--wait`` while the window sends: the command only
    marks the campaign ``sending``; the window's engine notices and sends it."""

    async def body() -> None:
        async with rig(tmp_path, contacts=30) as r:
            r.service.engine.adopt_interval = 0.05
            await r.service.start_engine()
            cid = await order_campaign(r)
            await r.service.start(cid, run=False)  # as the other process does

            async def completed() -> bool:
                campaign = await r.worker.run(r.service.repo.get, cid)
                return campaign.status is CampaignStatus.COMPLETED

            await until(completed)
            counts = await r.check_ledger(cid)
            assert sum(counts.get(s, 0) for s in ("sent", "delivered", "read")) == 30
            assert len(await r.counts_at_sandbox()) == 30

    asyncio.run(asyncio.wait_for(body(), 60))


def test_a_runner_that_crashes_pauses_the_campaign_instead_of_restarting(tmp_path: Path) -> None:
    """The engine itself fails while sending (here a provider whose send answers nothing
    the engine can read): the campaign pauses with a plain note and is not started again
    and again by the loop that adopts campaigns in ``sending``."""

    async def body() -> None:
        async with rig(tmp_path, contacts=5, engine={"in_flight": 1}) as r:
            real = r.provider
            runs = 0

            class Broken:
                kind = real.kind
                dialect = real.dialect

                async def check_health(self) -> Any:
                    return await real.check_health()

                async def send_template(self, *args: Any, **kwargs: Any) -> Any:
                    return None  # a provider bug: not a SendResult

            async def provider_for(_a: int) -> Any:
                nonlocal runs
                runs += 1
                return Broken()

            engine = r.service.engine
            engine._provider_for = provider_for
            engine.adopt_interval = 0.02
            looks = 0
            campaigns_in = r.service.repo.campaigns_in

            def counting(status: CampaignStatus) -> list[int]:
                nonlocal looks
                looks += 1
                return campaigns_in(status)

            r.service.repo.campaigns_in = counting  # type: ignore[method-assign]
            await r.service.start_engine()
            cid = await order_campaign(r)
            await r.service.start(cid)
            campaign = await r.service.wait(cid)

            assert campaign.status is CampaignStatus.PAUSED
            last = (await r.service.show(cid)).timeline[-1]
            assert last.cause == "engine"
            assert last.detail.startswith(
                "waapp hit an internal error while sending (AttributeError: "
            )
            assert last.detail.endswith(
                "the campaign is paused — resume it to try again; the log has the details"
            )
            counts = await r.check_ledger(cid)
            # The request whose answer broke may have reached the provider: unknown; the
            # others were given back, never sent.
            assert counts.get("unknown") == 1 and "sending" not in counts
            assert counts.get("pending", 0) + counts.get("retry_wait", 0) == 4

            seen = looks

            async def looked_again() -> bool:
                return looks >= seen + 3

            await until(looked_again)  # the adoption loop went round, and let it be
            assert runs == 1
            assert (await r.worker.run(r.service.repo.get, cid)).status is CampaignStatus.PAUSED

    run(body())
