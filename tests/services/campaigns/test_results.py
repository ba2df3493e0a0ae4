"""Campaign results export and the campaign view's read-only queries, on the real store."""

from __future__ import annotations

import asyncio
import csv
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.services.campaigns.harness import Rig, now, order_campaign, phone, rig
from waapp.core.catalogue import Dialect, lookup
from waapp.core.entities import Contact
from waapp.core.states import MessageState
from waapp.services.campaigns.results import RESULT_HEADERS, export_results
from waapp.store.campaigns import SendOutcome

_M = MessageState


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


async def mid_way(r: Rig, outcomes: dict[int, tuple[MessageState, str | None]]) -> int:
    """A campaign whose ledger is frozen (engine not running) and whose claimed rows ended
    as ``outcomes`` (row position → state, error code); the rest stay pending."""
    cid = await order_campaign(r)
    await r.service.start(cid, run=False)
    claimed = await r.worker.run(lambda: r.service.repo.claim(cid, limit=len(outcomes)))
    await r.worker.run(
        r.service.repo.record_results,
        [
            SendOutcome(
                message_id=m.id or 0,
                state=outcomes[n][0],
                provider_message_id=f"wamid.{n}",
                error_code=outcomes[n][1],
                error_title="Provider says no" if outcomes[n][1] else None,
            )
            for n, m in enumerate(claimed)
        ],
    )
    return cid


def test_queries_for_the_campaign_view(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=8) as r:
            cid = await mid_way(
                r,
                {
                    0: (_M.SENT, None),
                    1: (_M.FAILED, "131026"),
                    2: (_M.FAILED, "131026"),
                    3: (_M.FAILED, "131049"),
                    4: (_M.UNKNOWN, None),
                },
            )
            repo = r.service.repo
            every = await r.worker.run(lambda: repo.recipient_ids(cid))
            assert len(every) == 8 and every == sorted(every)
            failed = await r.worker.run(lambda: repo.recipient_ids(cid, states=["failed"]))
            assert len(failed) == 3
            two = await r.worker.run(
                lambda: repo.recipient_ids(cid, states=["failed", "unknown"], sort="phone")
            )
            assert len(two) == 4
            assert await r.worker.run(lambda: repo.recipient_ids(cid, states=[])) == []
            by_name = await r.worker.run(
                lambda: repo.recipient_ids(cid, sort="name", descending=True)
            )
            assert sorted(by_name) == every
            rows = await r.worker.run(repo.recipients, [every[3], every[0], 10_000])
            assert [m.id for m, _ in rows] == [every[3], every[0]]  # order kept, unknown out
            assert rows[1][1] == "Person 0" and rows[1][0].state is _M.SENT
            assert await r.worker.run(repo.failures_by_code, cid) == [
                ("131026", "Provider says no", 2),
                ("131049", "Provider says no", 1),
            ]
            since = now() - timedelta(minutes=1)
            assert await r.worker.run(lambda: repo.sent_since(since, campaign_id=cid)) == 1
            assert await r.worker.run(repo.sent_since, now() + timedelta(minutes=1)) == 0

    run(body())


def test_results_export_one_row_per_recipient_neutralised(tmp_path: Path) -> None:
    risky = Contact(phone_e164=phone(77), name='=HYPERLINK("http://x")', fields={"order": "@1"})

    async def body() -> None:
        async with rig(tmp_path, contacts=5, extra_contacts=[risky]) as r:
            cid = await mid_way(r, {0: (_M.SENT, None), 1: (_M.FAILED, "131026")})
            target = tmp_path / "results.csv"
            written = await export_results(r.service, r.worker, cid, target, dialect=Dialect.META)
            assert written == 6
            with target.open(encoding="utf-8-sig", newline="") as file:
                table = list(csv.reader(file))
            assert table[0] == RESULT_HEADERS
            assert len(table) == 1 + 6
            by_phone = {row[1]: row for row in table[1:]}
            assert by_phone[phone(77)][0] == '\'=HYPERLINK("http://x")'  # neutralised
            assert by_phone[phone(0)][2] == "Sent" and by_phone[phone(0)][3]  # a sent time
            failed = by_phone[phone(1)]
            entry = lookup("meta", "131026")
            assert failed[2] == "Failed" and failed[8] == "131026"
            assert failed[9] == entry.title and failed[10] == entry.meaning
            assert failed[11] == entry.what_to_do
            assert by_phone[phone(2)][2] == "Waiting"

            # .xlsx: the same rows, and a summary sheet.
            from openpyxl import load_workbook  # type: ignore[import-untyped]

            book_path = tmp_path / "results.xlsx"
            await export_results(r.service, r.worker, cid, book_path, dialect=Dialect.META)
            book = load_workbook(book_path, read_only=True)
            sheet = list(book["Results"].iter_rows(values_only=True))
            assert len(sheet) == 7
            assert '\'=HYPERLINK("http://x")' in [row[0] for row in sheet]
            summary = dict(book["Summary"].iter_rows(values_only=True))
            assert summary["Recipients"] == 6 and summary["Failed"] == 1
            book.close()

            # Only some states.
            only = tmp_path / "failed.csv"
            assert await export_results(r.service, r.worker, cid, only, states=["failed"]) == 1

    run(body())
