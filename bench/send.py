"""bench/send — a campaign of 20 000 recipients to the Sandbox in another process
(performance.md, ``send``).

Targets: ≥ 1 000 msg/s and ≥ 0.5 × floor; CPU per message reported; loop lag p99.

Set-up, per run: a Sandbox **process** (``python -m waapp.sandbox``, Meta dialect, no rate
limits of its own, an unlimited messaging tier, no webhooks) on the other core; in this
process the real thing — a store in a temporary folder with 20 000 contacts in a group and
the approved template ``order_update``, the :class:`CampaignService` and its engine, the
Meta provider over the production transport (``providers.transport.make_client``). The
campaign's pace has no limit (a rate far above what loopback allows) and ``--in-flight``
requests at once. The full ledger: durable claims, results written in batches, counters.

Figures (``ours``): msg/s from the moment the ledger is frozen (``start`` returned) until
the campaign is ``completed`` (every result written); the start itself (planning and
freezing 20 000 rows) apart; CPU per message = this process's CPU time (all its threads)
over that span / messages; loop lag = how late a 10 ms timer on the loop fires meanwhile.

Floor: bare aiohttp POSTs of the same Meta template request to the same endpoint of a
fresh Sandbox process, the same number in flight (a fixed pool of workers), nothing of ours.

``--provider-only`` adds, in each run and against the same floor, the Meta provider alone
(``send_template`` over the production client from a fixed pool of workers, no engine, no
store): what the provider layer costs per message, apart from the engine and the ledger.

Run: ``python -m bench.send [--quick] [--runs N] [--recipients N] [--in-flight N]
[--profile FILE] [--provider-only]``. Prints JSON, then ``send: 1240 msg/s, 0.58x floor
(2140 msg/s), 0.61 ms CPU/msg, lag p99 12 ms (median of 3)``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from bench.status import LagProbe

ROOT = Path(__file__).resolve().parents[1]

#: The Sandbox for throughput: nothing of its own slows the sends down.
SCENARIO: dict[str, Any] = {
    "seed": 1,
    "meta_mps": None,
    "meta_pair_burst": None,
    "messaging_limit": "TIER_UNLIMITED",
    "reply_rate": 0.0,
    "out_of_order_rate": 0.0,
    "duplicate_rate": 0.0,
    "not_on_whatsapp_suffix": None,
}


def phone(i: int) -> str:
    return f"+1415{5_000_000 + i:07d}"


# --- the Sandbox process -------------------------------------------------------------------


@contextlib.asynccontextmanager
async def sandbox_process(scenario: dict[str, Any] | None = None) -> AsyncIterator[str]:
    """A Sandbox in its own process; yields its URL."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as config:
        json.dump({"scenario": {**SCENARIO, **(scenario or {})}}, config)
    process = subprocess.Popen(
        [sys.executable, "-m", "waapp.sandbox", "--port", "0", "--config", config.name],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.get_running_loop().run_in_executor(None, process.stdout.readline)
        found = re.search(r"listening on (http://\S+)", line)
        if found is None:
            raise RuntimeError(f"the Sandbox did not start: {line!r}")
        yield found.group(1)
    finally:
        process.terminate()
        await asyncio.get_running_loop().run_in_executor(None, process.wait)
        Path(config.name).unlink(missing_ok=True)


async def sandbox_messages(url: str) -> list[dict[str, Any]]:
    """What the Sandbox accepted, oldest first (paged through its control API)."""
    import aiohttp

    found: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        while True:
            params = {"offset": str(len(found)), "limit": "5000"}
            async with session.get(f"{url}/_sandbox/messages", params=params) as response:
                page = await response.json()
            items = page
            if not items:
                return found
            found.extend(items)


# --- ours: the real store, service, engine and provider -------------------------------------


class Campaign:
    """A store with ``recipients`` contacts and a Meta account pointed at ``url``."""

    def __init__(self, folder: Path, url: str, recipients: int) -> None:
        self.folder, self.url, self.recipients = folder, url, recipients

    async def __aenter__(self) -> Campaign:
        import httpx

        from waapp.core.entities import Account, AccountKind, Contact, Template, TemplateKind
        from waapp.providers.factory import make_provider
        from waapp.providers.transport import make_client
        from waapp.sandbox import settings as sb
        from waapp.services.campaigns import CampaignService
        from waapp.services.events import EventBus
        from waapp.store.database import open_database
        from waapp.store.worker import DatabaseWorker

        self.worker = worker = DatabaseWorker()
        self.db = db = await worker.run(open_database, self.folder / "waapp.sqlite3")
        self.client = make_client(timeout=httpx.Timeout(10.0))
        settings = {
            "phone_number_id": sb.DEFAULT_META_PHONE_NUMBER_ID,
            "waba_id": sb.DEFAULT_META_WABA_ID,
            "base_url": self.url,
        }
        secrets = {
            "access_token": sb.DEFAULT_META_ACCESS_TOKEN,
            "app_secret": sb.DEFAULT_META_APP_SECRET,
            "verify_token": sb.DEFAULT_META_VERIFY_TOKEN,
        }
        self.provider = make_provider(AccountKind.META, settings, secrets, client=self.client)
        account = await worker.run(
            db.accounts.add, Account(kind=AccountKind.META, name="Shop", settings=settings)
        )
        assert account.id is not None
        self.account_id = account.id
        await worker.run(
            db.templates.replace_synced,
            account.id,
            [
                Template(
                    account_id=account.id,
                    kind=TemplateKind.APPROVED,
                    name="order_update",
                    language="en_US",
                    category="UTILITY",
                    body="Hi {{1}}, your order {{2}} is on its way.",
                    status="APPROVED",
                )
            ],
        )
        templates = await worker.run(db.templates.list, account.id)
        self.template_id = next(t.id for t in templates if t.name == "order_update")
        people = [
            Contact(phone_e164=phone(i), name=f"Person {i}", fields={"order": f"#{i}"})
            for i in range(self.recipients)
        ]
        await worker.run(db.contacts.add_many, people)
        group = await worker.run(db.groups.create, "Customers")
        assert group.id is not None
        self.group_id = group.id
        await worker.run(db.groups.add_members, group.id, list(range(1, self.recipients + 1)))

        provider = self.provider

        async def provider_for(_account_id: int) -> Any:
            return provider

        self.service = CampaignService(
            db=db, worker=worker, provider_for=provider_for, bus=EventBus()
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.service.stop_engine()
        await self.client.aclose()
        await self.worker.run(self.db.close)
        self.worker.shutdown()

    async def run(self, pacing: dict[str, Any]) -> dict[str, Any]:
        """Create, start and wait for the campaign; the figures of its sending."""
        created = await self.service.create(
            name="Bench",
            account_id=self.account_id,
            group_ids=[self.group_id],
            template_id=self.template_id,
            variable_mapping={"1": {"field": "first_name"}, "2": {"field": "order"}},
            pacing=pacing,
        )
        assert created.id is not None
        began = time.perf_counter()
        await self.service.start(created.id)
        started_wall, started, cpu = time.time(), time.perf_counter(), time.process_time()
        done = await self.service.wait(created.id)
        ended_wall, elapsed = time.time(), time.perf_counter() - started
        cpu = time.process_time() - cpu
        counts = await self.worker.run(self.service.repo.recount, created.id)
        return {
            "status": done.status.value,
            "counts": counts,
            "start_s": round(started - began, 3),
            "send_s": round(elapsed, 3),
            "started": started_wall,
            "ended": ended_wall,
            "msg_per_s": round(self.recipients / elapsed, 1),
            "cpu_ms_per_msg": round(1000 * cpu / self.recipients, 3),
        }


async def run_ours(args: argparse.Namespace, probe: LagProbe) -> dict[str, Any]:
    async with sandbox_process() as url:
        with tempfile.TemporaryDirectory(prefix="waapp-bench-send-") as folder:
            async with Campaign(Path(folder), url, args.recipients) as campaign:
                pacing = {"rate": 1_000_000.0, "in_flight": args.in_flight}
                if args.profile:
                    import cProfile

                    profiler = cProfile.Profile()
                    profiler.enable()
                    result = await campaign.run(pacing)
                    profiler.disable()
                    profiler.dump_stats(args.profile)
                else:
                    result = await campaign.run(pacing)
            accepted = len(await sandbox_messages(url))
    result["accepted_by_sandbox"] = accepted
    result["lag_p99_ms"] = round(probe.p99_ms(result["started"], result["ended"]), 1)
    return result


async def run_provider_only(args: argparse.Namespace, probe: LagProbe) -> dict[str, Any]:
    """The Meta provider alone (``--provider-only``): ``send_template`` over the production
    client from a fixed pool of workers, no engine and no store — what the provider layer
    costs per message, to set against the floor's CPU per message."""
    import httpx

    from waapp.core.entities import AccountKind, Template, TemplateKind
    from waapp.providers.factory import make_provider
    from waapp.providers.transport import make_client
    from waapp.sandbox import settings as sb

    template = Template(
        account_id=1,
        kind=TemplateKind.APPROVED,
        name="order_update",
        language="en_US",
        category="UTILITY",
        body="Hi {{1}}, your order {{2}} is on its way.",
        status="APPROVED",
    )
    async with sandbox_process() as url:
        client = make_client(timeout=httpx.Timeout(10.0))
        settings = {
            "phone_number_id": sb.DEFAULT_META_PHONE_NUMBER_ID,
            "waba_id": sb.DEFAULT_META_WABA_ID,
            "base_url": url,
        }
        secrets = {
            "access_token": sb.DEFAULT_META_ACCESS_TOKEN,
            "app_secret": sb.DEFAULT_META_APP_SECRET,
            "verify_token": sb.DEFAULT_META_VERIFY_TOKEN,
        }
        provider = make_provider(AccountKind.META, settings, secrets, client=client)
        ok = 0
        position = 0

        async def worker() -> None:
            nonlocal ok, position
            while position < args.recipients:
                i = position
                position += 1
                variables = {"1": "Person", "2": f"#{i}"}
                result = await provider.send_template(
                    phone(i), template, variables, reference=str(i + 1)
                )
                ok += result.provider_message_id is not None

        try:
            started_wall, started, cpu = time.time(), time.perf_counter(), time.process_time()
            await asyncio.gather(*(worker() for _ in range(args.in_flight)))
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
            ended_wall = time.time()
        finally:
            await client.aclose()
    return {
        "accepted": ok,
        "send_s": round(elapsed, 3),
        "msg_per_s": round(args.recipients / elapsed, 1),
        "cpu_ms_per_msg": round(1000 * cpu / args.recipients, 3),
        "lag_p99_ms": round(probe.p99_ms(started_wall, ended_wall), 1),
    }


# --- the floor: bare aiohttp ----------------------------------------------------------------


def meta_request(url: str) -> tuple[str, dict[str, str], Callable[[int], bytes]]:
    from waapp.sandbox import settings as sb

    endpoint = f"{url}/v23.0/{sb.DEFAULT_META_PHONE_NUMBER_ID}/messages"
    headers = {
        "Authorization": f"Bearer {sb.DEFAULT_META_ACCESS_TOKEN}",
        "Content-Type": "application/json",
    }

    def body(i: int) -> bytes:
        message = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": phone(i).removeprefix("+"),
            "type": "template",
            "template": {
                "name": "order_update",
                "language": {"code": "en_US"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": "Person"},
                            {"type": "text", "text": f"#{i}"},
                        ],
                    }
                ],
            },
            "biz_opaque_callback_data": str(i + 1),
        }
        return json.dumps(message).encode()

    return endpoint, headers, body


async def run_floor(args: argparse.Namespace, probe: LagProbe) -> dict[str, Any]:
    import aiohttp

    async with sandbox_process() as url:
        endpoint, headers, body = meta_request(url)
        ok = 0
        position = 0
        connector = aiohttp.TCPConnector(limit=args.in_flight)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                nonlocal ok, position
                while position < args.recipients:
                    i = position
                    position += 1
                    async with session.post(endpoint, data=body(i), headers=headers) as response:
                        payload = await response.json()
                        if response.status == 200 and payload["messages"][0]["id"]:
                            ok += 1

            started_wall, started, cpu = time.time(), time.perf_counter(), time.process_time()
            await asyncio.gather(*(worker() for _ in range(args.in_flight)))
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
            ended_wall = time.time()
    return {
        "accepted": ok,
        "send_s": round(elapsed, 3),
        "msg_per_s": round(args.recipients / elapsed, 1),
        "cpu_ms_per_msg": round(1000 * cpu / args.recipients, 3),
        "lag_p99_ms": round(probe.p99_ms(started_wall, ended_wall), 1),
    }


# --- main -----------------------------------------------------------------------------------


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        probe = LagProbe(False)
        probe.start()
        try:
            result = {"floor": await run_floor(args, probe)}
            if args.provider_only:
                result["provider"] = await run_provider_only(args, probe)
            result["ours"] = await run_ours(args, probe)
        finally:
            await probe.stop()
        result["ratio"] = round(result["ours"]["msg_per_s"] / result["floor"]["msg_per_s"], 3)
        if args.provider_only:
            provider = result["provider"]["msg_per_s"]
            result["provider_ratio"] = round(provider / result["floor"]["msg_per_s"], 3)
        return result

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 000 recipients, one run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--profile", metavar="FILE", help="cProfile our sending into FILE")
    parser.add_argument(
        "--provider-only",
        action="store_true",
        help="also measure the Meta provider alone (no engine, no store) in each run",
    )
    args = parser.parse_args()
    if args.quick:
        args.recipients, args.runs = 2_000, 1

    runs = [one_run(args) for _ in range(args.runs)]

    def median(side: str, key: str) -> float:
        return float(statistics.median(run[side][key] for run in runs))

    summary = {
        "recipients": args.recipients,
        "in_flight": args.in_flight,
        "runs": args.runs,
        "msg_per_s": median("ours", "msg_per_s"),
        "floor_msg_per_s": median("floor", "msg_per_s"),
        "ratio_to_floor": float(statistics.median(run["ratio"] for run in runs)),
        "cpu_ms_per_msg": median("ours", "cpu_ms_per_msg"),
        "floor_cpu_ms_per_msg": median("floor", "cpu_ms_per_msg"),
        "lag_p99_ms": median("ours", "lag_p99_ms"),
        "start_s": median("ours", "start_s"),
        "all_completed": all(
            run["ours"]["status"] == "completed"
            and run["ours"]["counts"].get("sent", 0) == args.recipients
            and run["ours"]["accepted_by_sandbox"] == args.recipients
            for run in runs
        ),
    }
    if args.provider_only:
        summary["provider_msg_per_s"] = median("provider", "msg_per_s")
        summary["provider_ratio_to_floor"] = float(
            statistics.median(run["provider_ratio"] for run in runs)
        )
        summary["provider_cpu_ms_per_msg"] = median("provider", "cpu_ms_per_msg")
        summary["all_completed"] = summary["all_completed"] and all(
            run["provider"]["accepted"] == args.recipients for run in runs
        )
    print(json.dumps({"summary": summary, "runs": runs}, indent=2))
    if args.provider_only:
        print(
            f"provider alone: {summary['provider_msg_per_s']:.0f} msg/s, "
            f"{summary['provider_ratio_to_floor']:.2f}x floor, "
            f"{summary['provider_cpu_ms_per_msg']:.3f} ms CPU/msg "
            f"(floor {summary['floor_cpu_ms_per_msg']:.3f} ms CPU/msg)"
        )
    print(
        f"send: {summary['msg_per_s']:.0f} msg/s, {summary['ratio_to_floor']:.2f}x floor "
        f"({summary['floor_msg_per_s']:.0f} msg/s), {summary['cpu_ms_per_msg']:.2f} ms CPU/msg, "
        f"lag p99 {summary['lag_p99_ms']:.0f} ms"
        f"{'' if args.runs == 1 else f' (median of {args.runs})'}"
        f"{'' if summary['all_completed'] else ' — NOT every recipient was sent once'}"
    )


if __name__ == "__main__":
    main()
