"""Reconciliation of unknown outcomes through Twilio's Messages list, on the real store with
the in-process Sandbox speaking Twilio (architecture.md "The engine", step 6)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.services.campaigns.harness import FAST, Rig, order_campaign, rig, until
from waapp.core.entities import AccountKind, Message, Template
from waapp.core.states import CampaignStatus, MessageState
from waapp.services.campaigns.reconcile import Reconciler
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


def test_a_message_with_another_text_and_an_id_nobody_holds_may_be_ours(
    tmp_path: Path,
) -> None:
    """Twilio lists a message to the person, created after the claim, whose text is not
    our rendering and whose id no row holds: it may be ours as Twilio stores it (a header
    or footer, a template edited there, escaping), so the row stays unknown — never sent
    a second time."""

    async def body() -> None:
        async with twilio_rig(tmp_path, contacts=5) as r:
            r.service.engine.reconcile_settle = SETTLE
            cid = await order_campaign(r)
            rows = await crash_with_claims(r, cid, 2)
            # The request of the killed process, as Twilio stores it: another text (here the
            # same template with other values), an id waapp never learnt.
            listed = {}
            for row in rows:
                other = await r.provider.send_template(
                    row.phone_e164, await template_of(r), {"1": "Maria", "2": "#999"}, reference="x"
                )
                assert other.accepted
                listed[row.phone_e164] = other.provider_message_id

            await r.service.start_engine()
            campaign = await r.service.wait(cid)

            assert campaign.status is CampaignStatus.PAUSED  # waiting for the user
            unknown = await r.worker.run(r.service.repo.messages, cid, MessageState.UNKNOWN)
            assert sorted(m.id for m in unknown) == sorted(row.id for row in rows)
            assert all(m.provider_message_id is None for m in unknown)
            at_sandbox = ids_at_sandbox(r)
            for phone, sid in listed.items():
                assert at_sandbox[phone] == [sid]  # nothing sent again
            assert all(len(ids) == 1 for ids in at_sandbox.values())
            assert len(at_sandbox) == 5  # the three others were sent once
            await r.check_ledger(cid)
            said = " ".join(await notes(r, cid))
            assert "could not be told apart" in said and "resolve them" in said

    run(body())


def test_another_campaigns_message_to_the_same_person_is_not_taken_for_ours(
    tmp_path: Path,
) -> None:
    """Messages whose ids other rows hold are not this row's, whatever their text: one of
    another campaign with another text, and one of a copy of the campaign with the very
    same text. Neither keeps the row unknown nor passes for it: it is sent, once."""

    async def body() -> None:
        async with twilio_rig(tmp_path, contacts=5) as r:
            r.service.engine.reconcile_settle = SETTLE
            # Just before, two other campaigns of the account wrote to the same people.
            made = await r.service.create(
                name="Other",
                account_id=r.account_id,
                group_ids=[r.group_id],
                template_id=r.template_id,
                variable_mapping={"1": {"text": "Maria"}, "2": {"text": "#999"}},
            )
            assert made.id is not None
            other = made.id
            await r.service.start(other)
            assert (await r.service.wait(other)).status is CampaignStatus.COMPLETED
            cid = await order_campaign(r)
            copy = await r.service.duplicate(cid)
            assert copy.id is not None
            await r.service.start(copy.id)
            assert (await r.service.wait(copy.id)).status is CampaignStatus.COMPLETED
            theirs: dict[str, list[str]] = {}
            for campaign_id in (other, copy.id):
                for m in await r.worker.run(r.service.repo.messages, campaign_id):
                    assert m.provider_message_id is not None
                    theirs.setdefault(m.phone_e164, []).append(m.provider_message_id)
            assert acceptances(r) == Counter({phone: 2 for phone in theirs})

            rows = await crash_with_claims(r, cid, 2)  # no request was made for these
            await r.service.start_engine()
            assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED

            by_phone = {m.phone_e164: m for m in await r.worker.run(r.service.repo.messages, cid)}
            at_sandbox = ids_at_sandbox(r)
            for phone, sids in theirs.items():
                ours = by_phone[phone]
                assert ours.state in ACCEPTED
                assert ours.provider_message_id not in sids
                assert at_sandbox[phone] == [*sids, ours.provider_message_id]  # once each
            said = " ".join(await notes(r, cid))
            assert f"{len(rows)} recipients whose outcome was unknown had not reached" in said

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
    absent at the first look is not proof until the settle time has passed. The
    reconciler's clock is the test's: the late message arrives "within" the settle time
    however slow the machine is."""

    async def body() -> None:
        async with twilio_rig(tmp_path, contacts=20) as r:
            cid = await order_campaign(r)
            rows = await crash_with_claims(r, cid, 1)
            repo = r.service.repo
            assert await r.worker.run(repo.recover_sending) == {cid: 1}
            clock = Clock()
            reconciler = Reconciler(
                repo=repo,
                worker=r.worker,
                provider=r.provider,
                template=await template_of(r),
                freeform=None,
                settle=timedelta(seconds=15),
                clock=clock,
            )

            first = await reconciler.run(cid)  # at once after the restart: too soon to say
            assert (first.too_soon, first.requeued, first.found_total) == (1, 0, 0)
            assert any("checked again" in note for note in await notes(r, cid))
            # Only now does the killed process's request reach Twilio.
            sid = await send_like_the_engine(r, rows[0])
            clock.offset = timedelta(seconds=16)  # past the settle time
            second = await reconciler.run(cid, wait=True)
            assert (second.found_total, second.requeued, second.undecided) == (1, 0, 0)

            await r.service.start_engine()  # the rest is sent; the found row is not
            assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED
            await r.check_ledger(cid)  # once each: the late one was not sent again
            by_id = {m.id: m for m in await r.worker.run(repo.messages, cid)}
            assert by_id[rows[0].id].provider_message_id == sid
            assert len(acceptances(r)) == 20

    run(body())


class Clock:
    """The reconciler's clock: real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def test_an_engine_stop_leaves_the_campaign_sending_for_the_next_start(tmp_path: Path) -> None:
    """Quitting (or SIGTERM of ``waapp run``) while only unknown rows are left besides the
    requests in flight: the campaign is not paused for the user; the next start
    reconciles those rows and completes it."""

    async def body() -> None:
        async with twilio_rig(tmp_path, contacts=3) as r:
            cid = await order_campaign(r)
            rows = await crash_with_claims(r, cid, 2)  # their requests never left
            real = r.provider.send_template
            in_flight, release = asyncio.Event(), asyncio.Event()

            async def held(*args: Any, **kwargs: Any) -> Any:
                in_flight.set()
                await release.wait()
                return await real(*args, **kwargs)

            r.provider.send_template = held  # type: ignore[method-assign]
            # The default settle: right after the restart the two are too recent to be
            # declared absent, so they stay unknown while the third is sent.
            await r.service.start_engine()
            await in_flight.wait()
            stopping = asyncio.create_task(r.service.stop_engine())

            async def stop_asked() -> bool:
                return cid in r.service.engine._stop_requested

            await until(stop_asked)
            release.set()  # the request in flight finishes and is written
            await stopping

            campaign = await r.worker.run(r.service.repo.get, cid)
            assert campaign.status is CampaignStatus.SENDING
            assert await r.worker.run(r.service.repo.recount, cid) == {"sent": 1, "unknown": 2}
            timeline = (await r.service.show(cid)).timeline
            assert not any("unknown outcome" in e.detail for e in timeline)
            assert len(r.sandbox.messages()) == 1

            r.provider.send_template = real  # type: ignore[method-assign]
            r.service.engine.reconcile_settle = SETTLE
            await r.service.start_engine()  # the next start: reconciled, sent once
            assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED
            await r.check_ledger(cid)
            assert len(acceptances(r)) == 3
            by_id = {m.id: m for m in await r.worker.run(r.service.repo.messages, cid)}
            assert all(by_id[row.id].state in ACCEPTED for row in rows)

    run(body())
