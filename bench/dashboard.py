"""bench/dashboard — a campaign with 100 000 recipients (performance.md ``dashboard``):
open the campaign view ≤ 300 ms, filter by status ≤ 150 ms, app RSS ≤ 350 MB.

The campaign is built straight in the store (Core ``executemany``): contacts, a campaign,
its ledger with a realistic mix of states and error codes, and a timeline. Then the real
Campaigns screen opens it offscreen: "open" is from the request to the painted view with the
first page of recipients, the counts, the funnel, the failures and the timeline; "filter"
is from choosing a status to the painted table of the matching rows (by a small and by a
large status). RSS is the process's peak (VmHWM).

Run: ``python -m bench.dashboard [--recipients N] [--runs N]``. Prints JSON, then
``dashboard: open 210 ms, filter 80 ms, RSS 190 MB``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

# (state, share, error code)
MIX: list[tuple[str, float, str | None]] = [
    ("read", 0.55, None),
    ("delivered", 0.20, None),
    ("sent", 0.12, None),
    ("failed", 0.03, "131026"),
    ("failed", 0.01, "131049"),
    ("failed", 0.005, "130472"),
    ("pending", 0.06, None),
    ("retry_wait", 0.01, None),
    ("unknown", 0.005, None),
    ("skipped", 0.01, None),
]


def peak_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def build(services: Any, recipients: int) -> int:
    """Contacts, an account, a campaign and its ledger; returns the campaign id."""
    from sqlalchemy import insert

    from waapp.core.entities import Account, AccountKind, Campaign
    from waapp.core.states import CampaignStatus
    from waapp.store.campaigns import _tidy
    from waapp.store.engine import json_text
    from waapp.store.schema import campaign_events, contacts, format_utc
    from waapp.store.statuses import recount

    db = services.db
    account = db.accounts.add(Account(kind=AccountKind.META, name="Shop", settings={}))
    repo = services.campaigns.repo
    campaign = repo.add(Campaign(name="Big sale", account_id=account.id))
    cid = campaign.id
    started = datetime.now(UTC) - timedelta(hours=3)
    stamp = format_utc(started)
    rng = random.Random(7)
    phones = [f"+1415{i:07d}" for i in range(recipients)]
    with db.engine.begin() as conn:
        conn.execute(
            insert(contacts),
            [
                {
                    "phone_e164": p,
                    "name": f"Customer {i}",
                    "fields": {"order": f"#{i}"},
                    "created_at": started,
                    "updated_at": started,
                }
                for i, p in enumerate(phones)
            ],
        )
        weights = [share for _, share, _ in MIX]
        rows = []
        for i, p in enumerate(phones):
            state, _, code = rng.choices(MIX, weights)[0]
            at = format_utc(started + timedelta(seconds=i * 0.1))
            sent = at if state in ("sent", "delivered", "read") else None
            rows.append(
                (
                    cid,
                    i + 1,
                    p,
                    "template",
                    json_text({"1": f"Customer {i}"}),
                    state,
                    1 if state != "pending" else 0,
                    f"wamid.{i}" if sent else None,
                    code,
                    "Provider error" if code else None,
                    sent,
                    sent if state in ("delivered", "read") else None,
                    sent if state == "read" else None,
                    at if state == "failed" else None,
                    at,
                )
            )
        conn.exec_driver_sql(
            "INSERT INTO messages (campaign_id, contact_id, phone_e164, route, variables, "
            "state, attempts, provider_message_id, error_code, error_title, sent_at, "
            "delivered_at, read_at, failed_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.exec_driver_sql(
            "UPDATE campaigns SET status = ?, started_at = ?, counters = ? WHERE id = ?",
            (
                CampaignStatus.SENDING.value,
                stamp,
                json_text(_tidy(recount(conn, cid))),
                cid,
            ),
        )
        conn.execute(
            insert(campaign_events),
            [
                {
                    "campaign_id": cid,
                    "at": started + timedelta(minutes=n),
                    "from_status": a,
                    "to_status": b,
                    "cause": "user" if n < 3 else "engine",
                    "detail": detail,
                }
                for n, (a, b, detail) in enumerate(
                    [
                        ("draft", "scheduled", ""),
                        ("scheduled", "sending", f"started: {recipients} recipient(s)"),
                        ("sending", "paused", "paused"),
                        ("paused", "sending", "resumed"),
                    ]
                )
            ],
        )
    return int(cid)


async def measure(recipients: int, runs: int) -> dict[str, Any]:
    from PySide6.QtWidgets import QApplication

    from waapp.app import open_services
    from waapp.paths import DataPaths
    from waapp.ui.bridge import Bridge
    from waapp.ui.campaigns.view import CampaignsView

    app = QApplication.instance()
    assert app is not None
    folder = Path(tempfile.mkdtemp(prefix="waapp-bench-dashboard-"))
    services = await open_services(DataPaths(folder))
    try:
        t = time.perf_counter()
        cid = await services.worker.run(build, services, recipients)
        build_s = time.perf_counter() - t
        bridge = Bridge(services.bus)
        view = CampaignsView(services, bridge)
        view.resize(1200, 800)
        view.show()
        await view.load()
        await asyncio.sleep(0.05)

        async def until(check: Any) -> None:
            # Polls slowly: a busy poll steals the GIL from the database worker.
            while not check():
                await asyncio.sleep(0.02)

        async def shown(action: Any, expected: int) -> None:
            """Run ``action`` and wait for the recipient table to show ``expected`` rows,
            woken by the model's signal (no polling)."""
            done = asyncio.Event()

            def check(count: int) -> None:
                if count == expected:
                    done.set()

            panel.model.refreshed.connect(check)
            try:
                action()
                await done.wait()
            finally:
                panel.model.refreshed.disconnect(check)

        opens: list[float] = []
        for _ in range(runs):
            view.show_list()
            await asyncio.sleep(0.01)
            view.panel.campaign = None  # a fresh open, not a refresh
            t = time.perf_counter()
            await view.open_campaign(cid)
            view.panel.repaint()
            opens.append((time.perf_counter() - t) * 1000)
        panel = view.panel
        counts = panel.snapshot.counts if panel.snapshot else {}
        filters: dict[str, list[float]] = {"failed": [], "read": [], "everyone": []}
        for _ in range(runs):
            for state in ("failed", "read", "everyone"):
                expected = sum(counts.values()) if state == "everyone" else counts[state]
                if state == "everyone":  # from a filtered table back to every row
                    panel.filter_by("failed")
                    await until(lambda: panel.model.rowCount() == counts["failed"])
                await until(lambda: not panel.model._tasks and not panel._tasks)
                t = time.perf_counter()
                await shown(
                    lambda s=state: panel.filter_by(None if s == "everyone" else s), expected
                )
                panel.table.repaint()
                filters[state].append((time.perf_counter() - t) * 1000)
                # Back to everyone between runs so each filter changes the rows.
                if state != "everyone":
                    panel.filter_by(None)
                    await until(lambda: panel.model.rowCount() == sum(counts.values()))
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats

            panel.filter_by("failed")
            await until(lambda: panel.model.rowCount() == counts["failed"])
            profile = cProfile.Profile()
            profile.enable()
            panel.filter_by(None)
            await until(lambda: panel.model.rowCount() == sum(counts.values()))
            panel.table.repaint()
            profile.disable()
            pstats.Stats(profile, stream=sys.stderr).sort_stats("cumtime").print_stats(18)
        # Scrolling to the end fetches a far page.
        t = time.perf_counter()
        panel.table.scrollToBottom()
        panel.table.repaint()  # asks for the last rows: their page is fetched
        await until(lambda: panel.model.row_at(panel.model.rowCount() - 1) is not None)
        panel.table.repaint()
        scroll_ms = (time.perf_counter() - t) * 1000
        view.shutdown()
        bridge.close()
        return {
            "recipients": recipients,
            "build_s": round(build_s, 2),
            "open_ms": [round(x, 1) for x in opens],
            "open_median_ms": round(statistics.median(opens), 1),
            "filter_ms": {k: [round(x, 1) for x in v] for k, v in filters.items()},
            "filter_median_ms": {k: round(statistics.median(v), 1) for k, v in filters.items()},
            "scroll_to_end_ms": round(scroll_ms, 1),
            "counts": counts,
            "rss_peak_mb": round(peak_rss_mb(), 1),
        }
    finally:
        await services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    import qasync
    from PySide6.QtWidgets import QApplication

    from waapp.ui.theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    apply_theme(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        result = loop.run_until_complete(measure(args.recipients, args.runs))
    print(json.dumps(result, indent=2))
    worst_filter = max(result["filter_median_ms"].values())
    print(
        f"dashboard: open {result['open_median_ms']:.0f} ms, filter {worst_filter:.0f} ms, "
        f"RSS {result['rss_peak_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
