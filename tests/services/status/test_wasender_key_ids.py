"""WaSender status webhooks reach their messages, end to end: a campaign sent by the app's
services to the in-process Sandbox, the Sandbox's webhooks through the real receiver, and
one poll that learns the WhatsApp ``key.id`` the webhooks use (the send answers only with
its ``msgId``, providers.md §3.2 and §3.5)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.integration.helpers import FAST, eventually
from tests.services.campaigns.harness import BRISK
from waapp.app import Services, open_services
from waapp.core.entities import AccountKind, Contact, Template, TemplateKind
from waapp.core.states import CampaignStatus
from waapp.paths import DataPaths
from waapp.sandbox import settings as sb

PEOPLE = ["+14155550141", "+14155550142", "+14155550143"]
#: "sent" at once; "delivered" and "read" long after, as a phone does: by then the app
#: knows each message's key id from one poll.
SLOW_RECEIPTS: dict[str, Any] = {
    **FAST,
    "delays_ms": {"queued": 0, "sent": [1, 3], "delivered": [1500, 1500], "read": [400, 400]},
}


async def wasender_campaign(services: Services) -> tuple[int, int]:
    """A WaSender account whose webhooks go to the receiver, and a campaign of three."""
    sandbox = services.sandbox
    assert sandbox is not None
    account = await services.accounts.add(
        kind=AccountKind.WASENDER,
        name="Phone",
        settings={"base_url": sandbox.url},
        secrets={
            "api_key": sb.DEFAULT_WASENDER_API_KEY,
            "webhook_secret": sb.DEFAULT_WASENDER_WEBHOOK_SECRET,
        },
    )
    assert account.id is not None
    sandbox.configure(
        wasender={"webhook_url": services.intake.url_for(account.id)}, scenario=SLOW_RECEIPTS
    )
    db, worker = services.db, services.worker
    await worker.run(
        db.templates.replace_synced,
        account.id,
        [
            Template(
                account_id=account.id,
                kind=TemplateKind.APPROVED,
                name="hello",
                body="Hello {{1}}!",
                status="APPROVED",
            )
        ],
    )
    [template] = await worker.run(db.templates.list, account.id)
    await worker.run(db.contacts.add_many, [Contact(phone_e164=p, name="Ann") for p in PEOPLE])
    group = await worker.run(db.groups.create, "Customers")
    assert group.id is not None and template.id is not None
    contacts = await worker.run(db.contacts.get_many, [1, 2, 3])
    await worker.run(db.groups.add_members, group.id, [c.id for c in contacts if c.id])
    campaign = await services.campaigns.create(
        name="Hello",
        account_id=account.id,
        group_ids=[group.id],
        template_id=template.id,
        variable_mapping={"1": {"field": "first_name"}},
        pacing=dict(BRISK),
    )
    assert campaign.id is not None
    return account.id, campaign.id


def test_wasender_webhooks_move_their_messages_once_a_poll_named_the_key_id(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        services = await open_services(DataPaths(tmp_path / "data"))
        try:
            await services.start_network()
            # Only the one poll below: a background poll on a slow machine would date the
            # messages by its own clock before their webhooks are merged.
            services.intake.poller.min_age = timedelta(hours=1)
            account_id, campaign_id = await wasender_campaign(services)
            repo = services.campaigns.repo
            await services.campaigns.start(campaign_id)
            assert (await services.campaigns.wait(campaign_id)).status is CampaignStatus.COMPLETED

            async def recorded(status: str, count: int) -> bool:
                events = await services.worker.run(services.db.statuses.recent_events, 100)
                return [e.status for e in events if e.account_id == account_id].count(
                    status
                ) >= count

            # The "sent" webhooks name key ids nobody knows yet: kept, matched to nothing.
            await eventually(lambda: recorded("sent", 3), what="three sent webhooks")
            await services.intake.writer.flushed()
            assert services.intake.writer.stats().unmatched >= 3

            poller = services.intake.poller
            poller.min_age = timedelta(0)
            assert (await poller.poll_once()).updates == 3

            # The receipts to come name the key ids only (and there are no more polls).
            async def all_read() -> bool:
                rows = await services.worker.run(repo.messages, campaign_id)
                return {row.state.value for row in rows} == {"read"}

            await eventually(all_read, timeout=15, what="every message read")
            assert poller.totals.asked == 3
            # Each message is dated by its own webhooks (found by the key id the poll
            # named), whether they came after the poll or before it.
            with services.db.engine.connect() as conn:
                rows = conn.exec_driver_sql(
                    "SELECT provider_key_id, sent_at, delivered_at, read_at FROM messages"
                ).all()
                hooks = dict(
                    conn.exec_driver_sql(
                        "SELECT provider_message_id || ' ' || status, occurred_at "
                        "FROM status_events WHERE source = 'webhook'"
                    ).all()
                )
            assert len(rows) == 3
            for key_id, sent_at, delivered_at, read_at in rows:
                assert key_id is not None
                # sent: the earliest word wins, and ours (the send's answer) may come first
                assert sent_at <= hooks[f"{key_id} sent"]
                assert delivered_at == hooks[f"{key_id} delivered"]
                assert read_at == hooks[f"{key_id} read"]
            campaign = await services.worker.run(repo.get, campaign_id)
            assert campaign.counters == {"read": 3}
            stats = services.intake.receiver.stats()
            assert stats.forged == 0 and stats.accepted >= 9
        finally:
            await services.close()

    asyncio.run(asyncio.wait_for(body(), 60))
