"""A campaign under test: a real store under tmp_path, the Sandbox in-process (Meta
dialect by default; ``kind`` picks Twilio or WaSender), that kind's provider pointed at it,
contacts in one group, and the CampaignService."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from waapp.core.entities import Account, AccountKind, Contact, Template, TemplateKind
from waapp.core.ports import Provider
from waapp.providers.factory import make_provider
from waapp.providers.transport import make_client
from waapp.sandbox import Sandbox
from waapp.sandbox import settings as sb
from waapp.services.campaigns import CampaignService
from waapp.services.events import EventBus
from waapp.store.database import Database, open_database
from waapp.store.worker import DatabaseWorker

FAST: dict[str, Any] = {
    "seed": 3,
    "delays_ms": {"queued": 0, "sent": [1, 3], "delivered": [1, 3], "read": [1, 3]},
    "read_rate": 1.0,
    "reply_rate": 0.0,
    "out_of_order_rate": 0.0,
    "duplicate_rate": 0.0,
    "meta_batch_window_ms": 0,
    "meta_mps": None,
    "meta_pair_burst": None,
    "hang_ms": 100,
}

#: Engine settings for tests: short waits.
QUICK: dict[str, Any] = {"backoff_base": 0.05, "backoff_cap": 0.2, "idle_poll": 0.05}


def account_of(kind: AccountKind, url: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings and secrets of an account of ``kind`` served by the Sandbox at ``url``."""
    if kind is AccountKind.TWILIO:
        settings: dict[str, Any] = {
            "account_sid": sb.DEFAULT_TWILIO_ACCOUNT_SID,
            "sender": sb.DEFAULT_TWILIO_SENDER,
            "base_url": url,
            "content_base_url": f"{url}/v1",
        }
        return settings, {"auth_token": sb.DEFAULT_TWILIO_AUTH_TOKEN}
    if kind is AccountKind.WASENDER:
        return {"base_url": url}, {
            "api_key": sb.DEFAULT_WASENDER_API_KEY,
            "webhook_secret": sb.DEFAULT_WASENDER_WEBHOOK_SECRET,
        }
    settings = {
        "phone_number_id": sb.DEFAULT_META_PHONE_NUMBER_ID,
        "waba_id": sb.DEFAULT_META_WABA_ID,
        "base_url": url,
    }
    return settings, {
        "access_token": sb.DEFAULT_META_ACCESS_TOKEN,
        "app_secret": sb.DEFAULT_META_APP_SECRET,
        "verify_token": sb.DEFAULT_META_VERIFY_TOKEN,
    }


#: A gateway's pace without its human-like waits (WaSender's default is one message per
#: 5 s plus jitter), for a campaign's ``pacing`` in tests.
BRISK: dict[str, Any] = {
    "rate": 300.0,
    "in_flight": 4,
    "jitter": [0, 0],
    "hourly_cap": None,
    "warmup": False,
}


def phone(i: int) -> str:
    return f"+1415{5550000 + i:07d}"


@dataclass
class Rig:
    db: Database
    worker: DatabaseWorker
    sandbox: Sandbox
    provider: Provider
    service: CampaignService
    account_id: int
    group_id: int
    template_id: int
    freeform_id: int

    async def counts_at_sandbox(self) -> Counter[str]:
        return Counter(m["to"] for m in self.sandbox.messages())

    async def check_ledger(self, campaign_id: int) -> dict[str, int]:
        """What a user relies on: no recipient accepted twice, every sent row accepted
        exactly once, no row in an open state accepted, counters equal a recount."""
        accepted = await self.counts_at_sandbox()
        rows = await self.worker.run(self.service.repo.messages, campaign_id)
        assert max(accepted.values(), default=0) <= 1, "a recipient got the message twice"
        for row in rows:
            n = accepted.get(row.phone_e164, 0)
            if row.state.value in ("sent", "delivered", "read"):
                assert n == 1, f"{row.phone_e164} is {row.state} but accepted {n} times"
            elif row.state.value in ("pending", "retry_wait", "failed", "cancelled", "skipped"):
                assert n == 0, f"{row.phone_e164} is {row.state} but was accepted"
        campaign = await self.worker.run(self.service.repo.get, campaign_id)
        recount = await self.worker.run(self.service.repo.recount, campaign_id)
        assert campaign.counters == recount
        return recount


@asynccontextmanager
async def rig(
    tmp_path: Path,
    *,
    contacts: int = 50,
    scenario: dict[str, Any] | None = None,
    engine: dict[str, Any] | None = None,
    extra_contacts: list[Contact] | None = None,
    kind: AccountKind = AccountKind.META,
) -> AsyncIterator[Rig]:
    worker = DatabaseWorker()
    db = await worker.run(open_database, tmp_path / "waapp.sqlite3")
    sandbox = Sandbox(config={"scenario": {**FAST, **(scenario or {})}})
    url = await sandbox.start()
    client = make_client(timeout=httpx.Timeout(connect=2.0, read=2.0, write=2.0, pool=2.0))
    settings, secrets = account_of(kind, url)
    provider = make_provider(kind, settings, secrets, client=client)
    account = await worker.run(db.accounts.add, Account(kind=kind, name="Shop", settings=settings))
    assert account.id is not None
    order_update = Template(
        account_id=account.id,
        kind=TemplateKind.APPROVED,
        name="order_update",
        language="en_US",
        category="UTILITY",
        body="Hi {{1}}, your order {{2}} is on its way.",
        status="APPROVED",
    )
    if kind is AccountKind.TWILIO:  # a Content API item: the Sandbox's own, with its SID
        synced = {t.name: t for t in await provider.list_templates()}
        order_update = replace(synced["order_update"], account_id=account.id)
    await worker.run(db.templates.replace_synced, account.id, [order_update])
    template = next(
        t for t in await worker.run(db.templates.list, account.id) if t.name == "order_update"
    )
    freeform = await worker.run(
        db.templates.add,
        Template(account_id=None, kind=TemplateKind.FREEFORM, name="note", body="Hello {{1}}!"),
    )
    people = [
        Contact(phone_e164=phone(i), name=f"Person {i}", fields={"order": f"#{i}"})
        for i in range(contacts)
    ] + list(extra_contacts or [])
    await worker.run(db.contacts.add_many, people)
    group = await worker.run(db.groups.create, "Customers")
    assert group.id is not None
    ids = [c.id for c in await worker.run(db.contacts.get_many, list(range(1, len(people) + 1)))]
    await worker.run(db.groups.add_members, group.id, [i for i in ids if i is not None])

    async def provider_for(_account_id: int) -> Provider:
        return provider

    service = CampaignService(
        db=db,
        worker=worker,
        provider_for=provider_for,
        bus=EventBus(),
        engine_settings={**QUICK, **(engine or {})},
    )
    assert template.id is not None and freeform.id is not None
    try:
        yield Rig(
            db, worker, sandbox, provider, service, account.id, group.id, template.id, freeform.id
        )
    finally:
        await service.stop_engine()
        await sandbox.stop()
        await client.aclose()
        await worker.run(db.close)
        worker.shutdown()


async def order_campaign(r: Rig, **kwargs: Any) -> int:
    campaign = await r.service.create(
        name="Orders",
        account_id=r.account_id,
        group_ids=[r.group_id],
        template_id=r.template_id,
        variable_mapping={"1": {"field": "first_name"}, "2": {"field": "order"}},
        **kwargs,
    )
    assert campaign.id is not None
    return campaign.id


async def until(check: Any, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def now() -> datetime:
    return datetime.now(UTC)
