"""Reconciliation of unknown outcomes through Twilio's Messages list, on the real store with
the in-process Sandbox speaking Twilio (architecture.md "The engine", step 6)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.services.campaigns.harness import FAST, Rig, order_campaign, rig, until
from waapp.core.entities import AccountKind, Message, Template
from waapp.core.states import CampaignStatus, MessageState
from waapp.store.campaigns import Reconciled

ACCEPTED = (MessageState.SENT, MessageState.DELIVERED, MessageState.READ)
#: A short settle: the Sandbox creates a message while answering, nothing arrives late.
SETTLE = timedelta(seconds=0.3)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def twilio_rig(tmp_path: Path, **kwargs: Any) -> Any:
    return rig(
        tmp_path,
        kind=AccountKind.TWILIO,
        engine={"rate": 500.0, "in_flight": 8, **kwargs.pop("engine", {})},
        **kwargs,
    )


async def template_of(r: Rig) -> Template:
    return await r.worker.run(r.db.templates.get, r.template_id)


async def send_like_the_engine(r: Rig, row: Message) -> str:
    """The request the killed process had made for ``row``: accepted, answer never written."""
    assert row.id is not None
    result = await r.provider.send_template(
        row.phone_e164, await template_of(r), row.variables, reference=str(row.id)
    )
    assert result.accepted and result.provider_message_id
    return result.provider_message_id


async def crash_with_claims(r: Rig, cid: int, claimed: int) -> list[Message]:
    """A campaign left ``sending`` by a process that stopped after claiming ``claimed``
    rows (their requests made or not by the caller): the rows are still ``sending``."""
    await r.service.start(cid, run=False)
    rows = await r.worker.run(r.service.repo.claim, cid, limit=claimed)
    assert len(rows) == claimed
    return rows


def acceptances(r: Rig) -> Counter[str]:
    return Counter(m["to"] for m in r.sandbox.messages())


def ids_at_sandbox(r: Rig) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for m in r.sandbox.messages():
        found.setdefault(m["to"], []).append(m["id"])
    return found


async def notes(r: Rig, cid: int) -> list[str]:
    return [e.detail for e in (await r.service.show(cid)).timeline if e.cause == "reconcile"]


def test_after_a_crash_accepted_rows_are_found_and_absent_ones_sent_once(tmp_path: Path) -> None:
    async def body() -> None:
        async with twilio_rig(tmp_path, contacts=40) as r:
            r.service.engine.reconcile_settle = SETTLE
            cid = await order_campaign(r)
            rows = await crash_with_claims(r, cid, 6)
            # The killed process had made three of the six requests.
            sids = {row.id: await send_like_the_engine(r, row) for row in rows[:3]}
            assert len(r.sandbox.messages()) == 3

            await r.service.start_engine()  # the next start: recovery, then reconciliation
            campaign = await r.service.wait(cid)

            assert campaign.status is CampaignStatus.COMPLETED
            counts = await r.check_ledger(cid)  # nobody twice, every sent row accepted once
            assert sum(counts.get(s, 0) for s in ("sent", "delivered", "read")) == 40
            by_id = {m.id: m for m in await r.worker.run(r.service.repo.messages, cid)}
            for message_id, sid in sids.items():
                assert by_id[message_id].provider_message_id == sid  # the first acceptance
            at_sandbox = ids_at_sandbox(r)
            for row in rows[3:]:
                sent = by_id[row.id]
                assert at_sandbox[row.phone_e164] == [sent.provider_message_id]
                assert sent.attempts == 2  # the lost attempt is kept, the resend counted
            said = " ".join(await notes(r, cid))
            assert "3 recipients whose outcome was unknown were found at Twilio" in said
            assert "had not reached Twilio" in said

    run(body())


def test_answers_lost_on_the_wire_are_found_instead_of_paused(tmp_path: Path) -> None:
    """The request reached Twilio and the answer was lost (reset after acceptance), or it
    was cut before (reset): both are unknown; the lookup settles each the right way."""

    async def body() -> None:
        scenario = {"seed": 5, "reset_after": {"count": 3}, "reset": {"count": 2, "after": 10}}
        async with twilio_rig(tmp_path, contacts=60, scenario=scenario) as r:
            r.service.engine.reconcile_settle = SETTLE
            cid = await order_campaign(r)
            await r.service.start(cid)
            campaign = await r.service.wait(cid)
            assert campaign.status is CampaignStatus.COMPLETED
            counts = await r.check_ledger(cid)
            assert sum(counts.get(s, 0) for s in ("sent", "delivered", "read")) == 60
            assert len(acceptances(r)) == 60
            said = " ".join(await notes(r, cid))
            assert "found at Twilio" in said and "had not reached Twilio" in said

    run(body())


def test_another_campaigns_message_to_the_same_person_is_not_taken_for_ours(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        async with twilio_rig(tmp_path, contacts=5) as r:
            r.service.engine.reconcile_settle = SETTLE
            cid = await order_campaign(r)
            rows = await crash_with_claims(r, cid, 2)
            # Just before, another campaign sent the same template to these two people,
            # with other variables: same ContentSid, another text.
            others = {}
            for row in rows:
                other = await r.provider.send_template(
                    row.phone_e164, await template_of(r), {"1": "Maria", "2": "#999"}, reference="x"
                )
                assert other.accepted
                others[row.phone_e164] = other.provider_message_id

            await r.service.start_engine()
            assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED

            by_phone = {m.phone_e164: m for m in await r.worker.run(r.service.repo.messages, cid)}
            at_sandbox = ids_at_sandbox(r)
            for phone, other_sid in others.items():
                ours = by_phone[phone]
                assert ours.state in ACCEPTED
                assert ours.provider_message_id != other_sid
                assert at_sandbox[phone] == [other_sid, ours.provider_message_id]
            assert all(len(ids) == 1 for p, ids in at_sandbox.items() if p not in others)

    run(body())


def test_two_messages_that_may_be_ours_leave_the_row_unknown(tmp_path: Path) -> None:
    async def body() -> None:
        async with twilio_rig(tmp_path, contacts=3) as r:
            r.service.engine.reconcile_settle = SETTLE
            cid = await order_campaign(r)
            rows = await crash_with_claims(r, cid, 1)
            await send_like_the_engine(r, rows[0])
            await send_like_the_engine(r, rows[0])  # the same text twice: which is ours?

            await r.service.start_engine()
            campaign = await r.service.wait(cid)

            assert campaign.status is CampaignStatus.PAUSED  # waiting for the user
            row = await r.worker.run(r.service.repo.messages, cid, MessageState.UNKNOWN)
            assert [m.id for m in row] == [rows[0].id] and row[0].provider_message_id is None
            assert acceptances(r)[rows[0].phone_e164] == 2  # nothing sent a third time
            said = " ".join(await notes(r, cid))
            assert "could not be told apart" in said and "resolve them" in said

    run(body())


def test_a_failed_lookup_leaves_rows_unknown_until_twilio_answers(tmp_path: Path) -> None:
    async def body() -> None:
        async with twilio_rig(tmp_path, contacts=3) as r:
            r.service.engine.reconcile_settle = SETTLE
            cid = await order_campaign(r)
            rows = await crash_with_claims(r, cid, 3)
            sid = await send_like_the_engine(r, rows[0])
            # Twilio answers nothing but 500 now, the Messages list included.
            r.sandbox.configure(scenario={**FAST, "fault_scope": "all", "error_5xx": {"rate": 1.0}})

            await r.service.start_engine()
            campaign = await r.service.wait(cid)

            assert campaign.status is CampaignStatus.PAUSED
            counts = await r.check_ledger(cid)
            assert counts == {"unknown": 3}
            assert len(r.sandbox.messages()) == 1  # nothing resent blindly
            said = " ".join(await notes(r, cid))
            assert "3 could not be checked at Twilio" in said

            r.sandbox.configure(scenario=dict(FAST))  # Twilio is back
            await r.service.resume(cid)
            assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED
            await r.check_ledger(cid)
            by_id = {m.id: m for m in await r.worker.run(r.service.repo.messages, cid)}
            assert by_id[rows[0].id].provider_message_id == sid
            assert len(acceptances(r)) == 3

    run(body())


def test_a_decision_read_before_the_row_moved_on_does_not_touch_it(tmp_path: Path) -> None:
    async def body() -> None:
        async with twilio_rig(tmp_path, contacts=2) as r:
            cid = await order_campaign(r)
            rows = await crash_with_claims(r, cid, 2)
            repo = r.service.repo
            assert await r.worker.run(repo.recover_sending) == {cid: 2}
            unknown = await r.worker.run(repo.unknown_rows, cid)
            assert [u.id for u in unknown] == [row.id for row in rows]
            first, second = unknown
            stale = Reconciled(
                message_id=first.id,
                attempts=first.attempts + 1,  # another claim than the one that was read
                sending_at=first.sending_at,
                state=MessageState.RETRY_WAIT,
            )
            found = Reconciled(
                message_id=second.id,
                attempts=second.attempts,
                sending_at=second.sending_at,
                state=MessageState.DELIVERED,
                provider_message_id="SM1",
            )
            moved = await r.worker.run(repo.reconcile_unknown, cid, [stale, found])
            assert moved == {"delivered": 1}
            by_id = {m.id: m for m in await r.worker.run(repo.messages, cid)}
            assert by_id[first.id].state is MessageState.UNKNOWN
            delivered = by_id[second.id]
            assert delivered.state is MessageState.DELIVERED
            assert delivered.provider_message_id == "SM1"
            assert {"sent", "delivered"} <= set(delivered.state_times)
            campaign = await r.worker.run(repo.get, cid)
            assert campaign.counters == await r.worker.run(repo.recount, cid)
            # Applying the same finding twice changes nothing more.
            assert await r.worker.run(repo.reconcile_unknown, cid, [found]) == {}

    run(body())


def test_a_paused_campaign_left_with_claims_is_checked_at_start_and_sends_nothing(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        async with twilio_rig(tmp_path, contacts=4) as r:
            r.service.engine.reconcile_settle = SETTLE
            cid = await order_campaign(r)
            rows = await crash_with_claims(r, cid, 2)
            sid = await send_like_the_engine(r, rows[0])
            # The user had paused; waapp was killed while the requests were draining.
            await r.worker.run(r.service.repo.set_status, cid, CampaignStatus.PAUSED, cause="user")

            await r.service.start_engine()

            async def settled() -> bool:
                unknown = await r.worker.run(r.service.repo.unknown_rows, cid)
                return [u.id for u in unknown] == [rows[1].id]

            await until(settled)
            by_id = {m.id: m for m in await r.worker.run(r.service.repo.messages, cid)}
            assert by_id[rows[0].id].state in ACCEPTED
            assert by_id[rows[0].id].provider_message_id == sid
            assert (await r.worker.run(r.service.repo.get, cid)).status is CampaignStatus.PAUSED
            assert len(r.sandbox.messages()) == 1  # nothing sent while paused
            # The other request never reached Twilio: decided once the user resumes.
            await r.service.resume(cid)
            assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED
            await r.check_ledger(cid)
            assert len(acceptances(r)) == 4

    run(body())


def test_a_message_that_reaches_twilio_late_is_found_not_sent_again(tmp_path: Path) -> None:
    """A request cut off by the crash can still be arriving at Twilio when waapp restarts:
    absent at the first look is not proof until the settle time has passed."""

    async def body() -> None:
        async with twilio_rig(tmp_path, contacts=20) as r:
            r.service.engine.reconcile_settle = timedelta(seconds=1.5)
            cid = await order_campaign(r)
            rows = await crash_with_claims(r, cid, 1)

            await r.service.start_engine()

            async def looked_once() -> bool:
                return any("checked again" in note for note in await notes(r, cid))

            await until(looked_once)
            # Only now does the killed process's request reach Twilio.
            sid = await send_like_the_engine(r, rows[0])

            assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED
            await r.check_ledger(cid)  # once each: the late one was not sent again
            by_id = {m.id: m for m in await r.worker.run(r.service.repo.messages, cid)}
            assert by_id[rows[0].id].provider_message_id == sid
            assert len(acceptances(r)) == 20

    run(body())
