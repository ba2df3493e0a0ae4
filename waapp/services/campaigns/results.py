"""Campaign results export: one row per recipient (name, phone, status, times, error code,
its meaning and what to do), then a summary sheet, through
:func:`waapp.services.exporter.write_table` — so every text cell is neutralised against
formula injection and the file appears only when it is complete.

The error meaning comes from the catalogue in the account's dialect (a Sandbox account
speaks one of the three); an error with no code keeps the title the provider or the engine
gave (``skipped`` rows: the reason they were left out).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from waapp.core.catalogue import Dialect, lookup
from waapp.core.entities import Message
from waapp.core.states import MessageState
from waapp.services.campaigns.service import CampaignService
from waapp.services.exporter import Cell, ExportTable, write_table
from waapp.store.engine import batched
from waapp.store.worker import DatabaseWorker

__all__ = ["RESULT_HEADERS", "STATE_LABELS", "error_meaning", "export_results", "results_tables"]

#: The words the window and the export use for each message state.
STATE_LABELS: dict[str, str] = {
    MessageState.PENDING: "Waiting",
    MessageState.SENDING: "Sending",
    MessageState.SENT: "Sent",
    MessageState.DELIVERED: "Delivered",
    MessageState.READ: "Read",
    MessageState.FAILED: "Failed",
    MessageState.RETRY_WAIT: "Will retry",
    MessageState.UNKNOWN: "Outcome unknown",
    MessageState.CANCELLED: "Cancelled",
    MessageState.SKIPPED: "Skipped",
}

RESULT_HEADERS = [
    "Name",
    "Phone",
    "Status",
    "Sent",
    "Delivered",
    "Read",
    "Failed",
    "Attempts",
    "Error code",
    "Error",
    "Meaning",
    "What to do",
]

_FETCH_BATCH = 2_000


def error_meaning(dialect: Dialect | str | None, message: Message) -> tuple[str, str, str]:
    """(title, meaning, what to do) of the message's error; empty strings when it has none."""
    if message.error_code and dialect is not None:
        entry = lookup(str(dialect), message.error_code)
        return entry.title, entry.meaning, entry.what_to_do
    return message.error_title or "", message.error_detail or "", ""


def results_tables(
    name: str,
    rows: Sequence[tuple[Message, str | None]],
    *,
    dialect: Dialect | str | None,
) -> list[ExportTable]:
    """The "Results" sheet (one row per recipient, in ``rows``' order) and a "Summary"."""
    table: list[list[Cell]] = []
    counts: dict[str, int] = {}
    for message, contact_name in rows:
        title, meaning, what_to_do = error_meaning(dialect, message)
        times = message.state_times
        state = MessageState(message.state)
        counts[state] = counts.get(state, 0) + 1
        table.append(
            [
                contact_name,
                message.phone_e164,
                STATE_LABELS[state],
                times.get("sent"),
                times.get("delivered"),
                times.get("read"),
                times.get("failed"),
                message.attempts,
                message.error_code,
                title or None,
                meaning or None,
                what_to_do or None,
            ]
        )
    summary: list[list[Cell]] = [["Campaign", name], ["Recipients", len(rows)]]
    summary += [[STATE_LABELS[s], counts[s]] for s in STATE_LABELS if counts.get(s)]
    return [
        ExportTable("Results", list(RESULT_HEADERS), table),
        ExportTable("Summary", ["", "Recipients"], summary),
    ]


async def export_results(
    service: CampaignService,
    worker: DatabaseWorker,
    campaign_id: int,
    path: Path,
    *,
    dialect: Dialect | str | None = None,
    states: Sequence[str] | None = None,
) -> int:
    """Write the campaign's results (only recipients in ``states`` when given) to ``path``
    (``.xlsx`` or ``.csv``); returns the number of recipients written. ValidationError for
    another suffix or a folder that cannot be written."""
    repo = service.repo
    campaign = await worker.run(repo.get, campaign_id)
    ids = await worker.run(repo.recipient_ids, campaign_id, states=states)
    rows: list[tuple[Message, str | None]] = []
    for batch in batched(ids, _FETCH_BATCH):  # small calls: other work interleaves
        rows.extend(await worker.run(repo.recipients, list(batch)))
    tables = results_tables(campaign.name, rows, dialect=dialect)
    return await asyncio.get_running_loop().run_in_executor(None, write_table, Path(path), tables)
