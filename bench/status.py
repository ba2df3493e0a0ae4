"""bench/status — status updates arriving as signed webhooks (performance.md, ``status``).

Targets: ≥ 3 000 updates/s applied (Meta-style batches), ≥ 800 requests/s (Twilio-style,
one update per request), none lost, loop lag p99 ≤ 50 ms.

Set-up: a real store in a temporary folder with a Meta campaign and a Twilio campaign of
messages in ``sent``; the webhook receiver and the batched writer of ``waapp.services.status``
on this process's event loop (asyncio, or qasync with ``--qt``), the database worker thread
beside it. A separate **load process** (another core) pre-builds and signs every request
the provider's way (Meta ``X-Hub-Signature-256`` over the raw body; Twilio
``X-Twilio-Signature`` over URL + sorted form parameters), then sends them over loopback:

1. *batched*: each message gets ``sent``, ``delivered``, ``read`` (shuffled within a window,
   so some arrive out of order), 50 statuses per request, 16 requests in flight;
2. *single*: the same, one status per request, 64 requests in flight.

Figures: updates/s from the first request until the last update is committed; requests/s
until the last answer; **lost** = updates answered 200 whose ``status_events`` row is
missing, plus messages not ending ``read`` (recounted from the rows), plus counters that
differ from a recount; loop lag = how late a 10 ms timer fires while the load runs.

Floor: the same load against a bare ``aiohttp.web`` handler (HMAC check, parse) with a bare
``sqlite3`` thread writing the updates with ``executemany`` every 100 ms — nothing of ours.

Run: ``python -m bench.status [--quick] [--runs N] [--qt] [--no-floor]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import queue
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

ROOT = Path(__file__).resolve().parents[1]
APP_SECRET = "bench-meta-app-secret"
AUTH_TOKEN = "bench-twilio-auth-token"
BASE_TS = 1_746_090_000
STEPS = ("sent", "delivered", "read")
META_ID, TWILIO_ID = 1, 2


# --- the load process ----------------------------------------------------------------------


def meta_pid(n: int) -> str:
    return f"wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI{n:010d}"


def twilio_sid(n: int) -> str:
    return f"SM{n:032x}"


def _shuffled_steps(messages: int, rng: random.Random) -> list[tuple[int, int]]:
    """(message, step) pairs, each message's steps in order but windows shuffled so that
    some later steps overtake earlier ones (out-of-order delivery)."""
    pairs = [(m, s) for m in range(messages) for s in range(3)]
    window = 300
    for start in range(0, len(pairs), window):
        chunk = pairs[start : start + window]
        rng.shuffle(chunk)
        pairs[start : start + window] = chunk
    return pairs


Request = tuple[bytes, dict[str, str], int]  # body, headers, updates it carries


def build_meta(messages: int, per_request: int, seed: int) -> list[Request]:
    rng = random.Random(seed)
    pairs = _shuffled_steps(messages, rng)
    requests = []
    for start in range(0, len(pairs), per_request):
        statuses = [
            {
                "id": meta_pid(m),
                "status": STEPS[s],
                "timestamp": str(BASE_TS + m % 1000 + s * 60),
                "recipient_id": f"1555{m:07d}",
                "conversation": {"id": "CONV", "origin": {"type": "marketing"}},
                "pricing": {"billable": True, "pricing_model": "PMP", "category": "marketing"},
            }
            for m, s in pairs[start : start + per_request]
        ]
        payload = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "WABA",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550783881",
                                    "phone_number_id": "106540352242922",
                                },
                                "statuses": statuses,
                            },
                        }
                    ],
                }
            ],
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        requests.append((body, headers, len(statuses)))
    return requests


def twilio_signature(url: str, params: Mapping[str, str]) -> str:
    payload = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(AUTH_TOKEN.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def build_twilio(messages: int, url: str, seed: int) -> list[Request]:
    rng = random.Random(seed)
    requests = []
    for m, s in _shuffled_steps(messages, rng):
        sid, status = twilio_sid(m), STEPS[s]
        params = {
            "SmsSid": sid,
            "SmsStatus": status,
            "MessageStatus": status,
            "ChannelToAddress": f"+1555{m:07d}",
            "To": f"whatsapp:+1555{m:07d}",
            "ChannelPrefix": "whatsapp",
            "MessageSid": sid,
            "AccountSid": "AC" + "0" * 32,
            "From": "whatsapp:+14155238886",
            "ApiVersion": "2010-04-01",
            "ChannelInstallSid": "XE" + "0" * 32,
        }
        if status == "read":
            params["EventType"] = "READ"
        requests.append(
            (
                urlencode(params).encode(),
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": twilio_signature(url, params),
                },
                1,
            )
        )
    return requests


async def _send_all(url: str, requests: list[Request], concurrency: int) -> dict[str, Any]:
    import aiohttp

    codes: dict[int, int] = {}
    failures = 0
    updates_ok = 0
    position = 0
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal position, failures, updates_ok
            while position < len(requests):
                body, headers, updates = requests[position]
                position += 1
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        codes[response.status] = codes.get(response.status, 0) + 1
                        if response.status == 200:
                            updates_ok += updates
                except aiohttp.ClientError:
                    failures += 1

        started = time.time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        ended = time.time()
    return {
        "started": started,
        "ended": ended,
        "codes": codes,
        "failures": failures,
        "updates_ok": updates_ok,
    }


def load_main(job: dict[str, Any]) -> None:
    """The load process: build and sign everything, then send it; one JSON line out."""
    if job["style"] == "meta":
        requests = build_meta(job["messages"], job["per_request"], job["seed"])
    else:
        requests = build_twilio(job["messages"], job["sign_url"], job["seed"])
    result = asyncio.run(_send_all(job["url"], requests, job["concurrency"]))
    result["requests"] = len(requests)
    print(json.dumps(result), flush=True)


def run_load(job: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.status", "--load", json.dumps(job)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


async def wait_load(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = await asyncio.get_running_loop().run_in_executor(None, process.communicate)
    if process.returncode != 0:
        raise RuntimeError(f"load process failed ({process.returncode})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


# --- the store -----------------------------------------------------------------------------


def seed_store(path: Path, meta_messages: int, twilio_messages: int) -> None:
    from sqlalchemy import insert

    from waapp.core.entities import Account, AccountKind
    from waapp.store.accounts import AccountRepository
    from waapp.store.database import open_database
    from waapp.store.schema import campaigns, format_utc
    from waapp.store.statuses import recount

    now = format_utc(datetime.now(UTC))
    with open_database(path) as db:
        accounts = AccountRepository(db.engine)
        assert accounts.add(Account(AccountKind.META, "Meta")).id == META_ID
        assert accounts.add(Account(AccountKind.TWILIO, "Twilio")).id == TWILIO_ID
        with db.transaction() as conn:
            for campaign_id, account_id in ((1, META_ID), (2, TWILIO_ID)):
                conn.execute(
                    insert(campaigns).values(
                        id=campaign_id,
                        name=f"bench {campaign_id}",
                        account_id=account_id,
                        window_policy="template_only",
                        missed_schedule_policy="ask",
                        status="sending",
                        created_at=datetime.now(UTC),
                    )
                )
            rows = [
                (1, f"+1555{m:07d}", "template", "sent", meta_pid(m), now, now)
                for m in range(meta_messages)
            ] + [
                (2, f"+1555{m:07d}", "template", "sent", twilio_sid(m), now, now)
                for m in range(twilio_messages)
            ]
            conn.exec_driver_sql(
                "INSERT INTO messages (campaign_id, phone_e164, route, state, "
                "provider_message_id, sent_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            for campaign_id in (1, 2):
                conn.execute(
                    campaigns.update()
                    .where(campaigns.c.id == campaign_id)
                    .values(counters=recount(conn, campaign_id))
                )


def check_store(path: Path, *, campaign_id: int, messages: int, updates_ok: int) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        account_id = META_ID if campaign_id == 1 else TWILIO_ID
        events = conn.execute(
            "SELECT COUNT(*) FROM status_events WHERE account_id = ?", (account_id,)
        ).fetchone()[0]
        states = dict(
            conn.execute(
                "SELECT state, COUNT(*) FROM messages WHERE campaign_id = ? GROUP BY state",
                (campaign_id,),
            ).fetchall()
        )
        (counters_text,) = conn.execute(
            "SELECT counters FROM campaigns WHERE id = ?", (campaign_id,)
        ).fetchone()
        counters = json.loads(counters_text)
    finally:
        conn.close()
    return {
        "events_recorded": events,
        "messages_read": states.get("read", 0),
        "lost": max(updates_ok - events, 0)
        + (messages - states.get("read", 0))
        + (0 if {k: v for k, v in counters.items() if v} == states else 1),
    }


# --- loop lag ------------------------------------------------------------------------------


class LagProbe:
    """How late a 10 ms timer fires on the running loop (QTimer under --qt)."""

    def __init__(self, qt: bool) -> None:
        self.samples: list[tuple[float, float]] = []  # (wall time, lateness in s)
        self._qt = qt
        self._task: asyncio.Task[None] | None = None
        self._timer: Any = None

    def start(self) -> None:
        if self._qt:
            from PySide6.QtCore import QTimer

            self._timer = QTimer()
            self._timer.setInterval(10)
            last = [time.perf_counter()]

            def tick() -> None:
                now = time.perf_counter()
                self.samples.append((time.time(), max(now - last[0] - 0.010, 0.0)))
                last[0] = now

            self._timer.timeout.connect(tick)
            self._timer.start()
        else:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.010)
            self.samples.append((time.time(), max(time.perf_counter() - before - 0.010, 0.0)))

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def p99_ms(self, start: float, end: float) -> float:
        window = sorted(lag for at, lag in self.samples if start <= at <= end)
        if not window:
            return 0.0
        return 1000 * window[min(len(window) - 1, int(0.99 * len(window)))]


# --- fake providers (the real signature schemes, providers.md shapes) ----------------------


def providers() -> dict[int, Any]:
    from waapp.core.entities import AccountKind, Template
    from waapp.core.ports import (
        HealthReport,
        InboundText,
        SendResult,
        StatusUpdate,
        WebhookRequest,
    )
    from waapp.core.signatures import meta_valid, twilio_valid
    from waapp.core.states import DeliveryStatus

    statuses = {s.value: s for s in DeliveryStatus}

    class Base:
        supports_polling = False

        async def send_text(self, to: str, text: str, *, reference: str) -> SendResult:
            raise NotImplementedError

        async def send_template(
            self, to: str, template: Template, variables: Mapping[str, str], *, reference: str
        ) -> SendResult:
            raise NotImplementedError

        async def fetch_status(self, provider_message_id: str) -> StatusUpdate | None:
            return None

        async def list_templates(self) -> list[Template]:
            return []

        async def check_health(self) -> HealthReport:
            return HealthReport(True, "bench")

        def verify_subscription(self, query: Mapping[str, str]) -> str | None:
            return None

    class Meta(Base):
        kind = AccountKind.META

        def verify_webhook(self, request: WebhookRequest) -> bool:
            return meta_valid(request.body, request.headers.get("X-Hub-Signature-256"), APP_SECRET)

        def parse_webhook(self, request: WebhookRequest) -> list[StatusUpdate | InboundText]:
            payload = json.loads(request.body)
            return [
                StatusUpdate(
                    provider_message_id=item["id"],
                    status=statuses[item["status"]],
                    occurred_at=datetime.fromtimestamp(int(item["timestamp"]), UTC),
                    recipient="+" + item["recipient_id"],
                    reference=item.get("biz_opaque_callback_data"),
                )
                for entry in payload["entry"]
                for change in entry["changes"]
                for item in change["value"].get("statuses", [])
                if item["status"] in statuses
            ]

    class Twilio(Base):
        kind = AccountKind.TWILIO

        def verify_webhook(self, request: WebhookRequest) -> bool:
            params = parse_qsl(request.body.decode(), keep_blank_values=True)
            return twilio_valid(
                request.url, params, request.headers.get("X-Twilio-Signature"), AUTH_TOKEN
            )

        def parse_webhook(self, request: WebhookRequest) -> list[StatusUpdate | InboundText]:
            params = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
            status = statuses.get(params.get("MessageStatus", ""))
            if status is None:
                return []
            return [
                StatusUpdate(
                    params["MessageSid"],
                    status,
                    datetime.now(UTC),
                    params.get("ChannelToAddress"),
                )
            ]

    return {META_ID: Meta(), TWILIO_ID: Twilio()}


# --- one run of ours -----------------------------------------------------------------------


async def run_ours(path: Path, args: argparse.Namespace, probe: LagProbe) -> dict[str, Any]:
    from waapp.services.events import EventBus
    from waapp.services.status.receiver import WebhookReceiver
    from waapp.services.status.writer import StatusWriter
    from waapp.store.database import open_database
    from waapp.store.statuses import StatusRepository
    from waapp.store.worker import DatabaseWorker

    worker = DatabaseWorker()
    db = await worker.run(open_database, path)
    table = providers()
    writer = StatusWriter(
        statuses=StatusRepository(db.engine),
        settings=db.settings,
        worker=worker,
        bus=EventBus(),
        max_pending=200_000,
    )
    receiver = WebhookReceiver(provider_for=table.get, sink=writer)
    writer.start()
    await receiver.start()
    figures: dict[str, Any] = {}
    try:
        for phase, account in (("batched", META_ID), ("single", TWILIO_ID)):
            url = f"{receiver.local_base}/webhooks/{account}"
            result = await wait_load(run_load(_job(args, phase, url)))
            await writer.flushed()  # every update committed
            figures[phase] = _phase_figures(args, phase, result, time.time(), probe)
    finally:
        await receiver.stop()
        await writer.stop()
        await worker.run(db.close)
        worker.shutdown()
    for phase, campaign_id in (("batched", 1), ("single", 2)):
        figures[phase].update(
            check_store(
                path,
                campaign_id=campaign_id,
                messages=_messages(args, phase),
                updates_ok=figures[phase]["updates_answered_ok"],
            )
        )
    figures["writer_batches"] = writer.stats().batches
    return figures


def _messages(args: argparse.Namespace, phase: str) -> int:
    updates = args.batched_updates if phase == "batched" else args.single_updates
    return int(updates // 3)


def _job(args: argparse.Namespace, phase: str, url: str) -> dict[str, Any]:
    return {
        "style": "meta" if phase == "batched" else "twilio",
        "messages": _messages(args, phase),
        "per_request": args.per_request,
        "seed": 7,
        "url": url,
        "sign_url": url,
        "concurrency": 16 if phase == "batched" else 64,
    }


def _phase_figures(
    args: argparse.Namespace,
    phase: str,
    result: dict[str, Any],
    applied_at: float,
    probe: LagProbe,
) -> dict[str, Any]:
    updates = _messages(args, phase) * 3
    answered = result["ended"] - result["started"]
    applied = applied_at - result["started"]
    return {
        "requests": result["requests"],
        "updates": updates,
        "answered_ok": result["codes"].get("200", 0),
        "updates_answered_ok": result["updates_ok"],
        "codes": result["codes"],
        "client_failures": result["failures"],
        "answered_s": round(answered, 3),
        "applied_s": round(applied, 3),
        "requests_per_s": round(result["requests"] / answered, 1),
        "updates_per_s_applied": round(updates / applied, 1),
        "lag_p99_ms": round(probe.p99_ms(result["started"], applied_at), 1),
    }


# --- the floor: bare aiohttp + bare sqlite3 ------------------------------------------------


class BareWriter(threading.Thread):
    """A thread writing (provider id, status, time) rows every 100 ms with executemany."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.inbox: queue.SimpleQueue[tuple[str, str, str] | None] = queue.SimpleQueue()
        self.written = 0
        self.idle = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        stop = False
        while not stop:
            time.sleep(0.1)
            rows = []
            while True:
                try:
                    item = self.inbox.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                rows.append(item)
            for start in range(0, len(rows), 500):
                chunk = rows[start : start + 500]
                conn.execute("BEGIN")
                conn.executemany(
                    "INSERT OR IGNORE INTO status_events (account_id, provider_message_id, "
                    "status, occurred_at, received_at) VALUES (1, ?, ?, ?, ?)",
                    [(pid, status, at, at) for pid, status, at in chunk],
                )
                conn.executemany(
                    "UPDATE messages SET state = ? WHERE provider_message_id = ?",
                    [(status, pid) for pid, status, _ in chunk],
                )
                conn.execute("COMMIT")
                self.written += len(chunk)
            if not rows:
                self.idle.set()
        conn.close()


async def run_floor(path: Path, args: argparse.Namespace, probe: LagProbe) -> dict[str, Any]:
    from aiohttp import web

    bare = BareWriter(path)
    bare.start()

    async def meta(request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", "")):
            return web.Response(status=403)
        payload = json.loads(body)
        for entry in payload["entry"]:
            for change in entry["changes"]:
                for item in change["value"].get("statuses", []):
                    bare.inbox.put((item["id"], item["status"], item["timestamp"]))
        return web.Response()

    async def twilio(request: web.Request) -> web.Response:
        body = await request.read()
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
        url = f"{request.scheme}://{request.host}{request.raw_path}"
        if not hmac.compare_digest(
            twilio_signature(url, params), request.headers.get("X-Twilio-Signature", "")
        ):
            return web.Response(status=403)
        bare.inbox.put((params["MessageSid"], params["MessageStatus"], str(time.time())))
        return web.Response(text="<Response/>", content_type="text/xml")

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post(f"/webhooks/{META_ID}", meta)
    app.router.add_post(f"/webhooks/{TWILIO_ID}", twilio)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    figures: dict[str, Any] = {}
    try:
        for phase, account in (("batched", META_ID), ("single", TWILIO_ID)):
            url = f"http://127.0.0.1:{port}/webhooks/{account}"
            result = await wait_load(run_load(_job(args, phase, url)))
            bare.idle.clear()  # set again by the first flush that finds nothing to write
            while not bare.idle.is_set():
                await asyncio.sleep(0.01)
            figures[phase] = _phase_figures(args, phase, result, time.time(), probe)
    finally:
        bare.inbox.put(None)
        bare.join()
        await runner.cleanup()
    return figures


# --- main ----------------------------------------------------------------------------------


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="waapp-bench-status-") as folder:
        seeded = Path(folder) / "seeded.sqlite3"
        seed_store(seeded, _messages(args, "batched"), _messages(args, "single"))
        ours_path = Path(folder) / "ours.sqlite3"
        floor_path = Path(folder) / "floor.sqlite3"
        shutil.copyfile(seeded, ours_path)
        shutil.copyfile(seeded, floor_path)

        async def main() -> dict[str, Any]:
            probe = LagProbe(args.qt)
            probe.start()
            try:
                result = {"ours": await run_ours(ours_path, args, probe)}
                if not args.no_floor:
                    result["floor"] = await run_floor(floor_path, args, probe)
                return result
            finally:
                await probe.stop()

        if args.qt:
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
            import qasync
            from PySide6.QtWidgets import QApplication

            app = QApplication.instance() or QApplication([])
            loop = qasync.QEventLoop(app)
            asyncio.set_event_loop(loop)
            with loop:
                result: dict[str, Any] = loop.run_until_complete(main())
                return result
        return asyncio.run(main())


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--load":
        load_main(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 000 updates instead of 100 000")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--qt", action="store_true", help="run on a qasync loop (QTimer lag)")
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--per-request", type=int, default=50)
    args = parser.parse_args()
    total = 10_000 if args.quick else 100_000
    args.batched_updates = total * 4 // 5  # Meta-style batches
    args.single_updates = total - args.batched_updates  # Twilio-style singles

    runs = [one_run(args) for _ in range(args.runs)]

    def median(side: str, phase: str, key: str) -> float:
        return float(statistics.median(run[side][phase][key] for run in runs))

    summary: dict[str, Any] = {
        "updates": total,
        "runs": args.runs,
        "loop": "qasync" if args.qt else "asyncio",
        "batched_updates_per_s": median("ours", "batched", "updates_per_s_applied"),
        "single_requests_per_s": median("ours", "single", "requests_per_s"),
        "single_updates_per_s_applied": median("ours", "single", "updates_per_s_applied"),
        "lost": max(run["ours"][p]["lost"] for run in runs for p in ("batched", "single")),
        "lag_p99_ms": max(
            median("ours", "batched", "lag_p99_ms"), median("ours", "single", "lag_p99_ms")
        ),
    }
    if not args.no_floor:
        summary["floor_batched_updates_per_s"] = median("floor", "batched", "updates_per_s_applied")
        summary["floor_single_requests_per_s"] = median("floor", "single", "requests_per_s")
        summary["batched_ratio_to_floor"] = round(
            summary["batched_updates_per_s"] / summary["floor_batched_updates_per_s"], 2
        )
        summary["single_ratio_to_floor"] = round(
            summary["single_requests_per_s"] / summary["floor_single_requests_per_s"], 2
        )
    print(json.dumps({"summary": summary, "runs": runs}, indent=2))
    b_floor = s_floor = ""
    if not args.no_floor:
        b_floor = f" ({summary['batched_ratio_to_floor']:.2f}x floor)"
        s_floor = f" ({summary['single_ratio_to_floor']:.2f}x floor)"
    print(
        f"status: {summary['batched_updates_per_s']:.0f} updates/s batched{b_floor}, "
        f"{summary['single_requests_per_s']:.0f} req/s single{s_floor}, "
        f"{summary['lost']} lost, lag p99 {summary['lag_p99_ms']:.0f} ms"
        f"{'' if args.runs == 1 else f' (median of {args.runs})'}"
    )


if __name__ == "__main__":
    main()
