"""A database made by an older schema opens in this version with every row kept
(architecture.md: "an old database file must open in a new version without loss")."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from waapp.core.ports import StatusUpdate
from waapp.core.states import DeliveryStatus
from waapp.store.database import HEAD_REVISION, MIGRATIONS_PATH, open_database, read_revision
from waapp.store.engine import connect_engine, writer
from waapp.store.schema import metadata
from waapp.store.statuses import IncomingEvent

T = "2025-05-01T09:00:00.000000Z"


def make_0001(path: Path) -> None:
    """The file an installation of schema 0001 wrote, built by the 0001 migration itself."""
    engine = connect_engine(path)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_PATH))
        with writer(engine).begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
    finally:
        engine.dispose()


#: One or more rows in every table of schema 0001, in the columns 0001 had.
ROWS_0001: dict[str, list[dict[str, Any]]] = {
    "contacts": [
        {
            "id": 1,
            "phone_e164": "+14155550101",
            "wa_id": "14155550101",
            "name": "Ann Lee",
            "fields": '{"order": "#1"}',
            "opted_out_at": None,
            "opt_out_reason": None,
            "last_inbound_at": T,
            "created_at": T,
            "updated_at": T,
        },
        {
            "id": 2,
            "phone_e164": "+5511987654321",
            "wa_id": None,
            "name": "Bia — ação 😀",
            "fields": "{}",
            "opted_out_at": T,
            "opt_out_reason": 'Replied "STOP" on WhatsApp',
            "last_inbound_at": None,
            "created_at": T,
            "updated_at": T,
        },
    ],
    "groups": [{"id": 1, "name": "Customers", "created_at": T}],
    "contact_groups": [{"group_id": 1, "contact_id": 1}, {"group_id": 1, "contact_id": 2}],
    "accounts": [
        {
            "id": 1,
            "kind": "wasender",
            "name": "Phone",
            "settings": '{"base_url": "https://www.wasenderapi.com"}',
            "created_at": T,
        }
    ],
    "templates": [
        {
            "id": 1,
            "account_id": None,
            "kind": "freeform",
            "name": "note",
            "body": "Hello {{1}}!",
            "language": "",
            "category": "",
            "header": None,
            "footer": None,
            "buttons": "[]",
            "placeholder_format": "positional",
            "provider_ref": None,
            "status": "",
            "quality": "",
            "synced_at": None,
        }
    ],
    "campaigns": [
        {
            "id": 1,
            "name": "Spring",
            "account_id": 1,
            "template_id": None,
            "freeform_template_id": 1,
            "variable_mapping": '{"1": {"field": "first_name"}}',
            "audience": '{"group_ids": [1]}',
            "window_policy": "freeform_only",
            "scheduled_at": None,
            "missed_schedule_policy": "ask",
            "missed_after_hours": 6,
            "pacing": '{"rate": 0.2}',
            "status": "sending",
            "counters": '{"sent": 1, "skipped": 1}',
            "created_at": T,
            "started_at": T,
            "finished_at": None,
        }
    ],
    "campaign_events": [
        {
            "id": 1,
            "campaign_id": 1,
            "at": T,
            "from_status": "scheduled",
            "to_status": "sending",
            "cause": "user",
            "detail": "started: 2 recipient(s), 1 skipped",
        }
    ],
    "messages": [
        {
            "id": 1,
            "campaign_id": 1,
            "contact_id": 1,
            "phone_e164": "+14155550101",
            "route": "freeform",
            "variables": '{"1": "Ann"}',
            "state": "sent",
            "attempts": 1,
            "next_attempt_at": None,
            "provider_message_id": "100000",
            "error_code": None,
            "error_title": None,
            "error_detail": None,
            "sending_at": T,
            "sent_at": T,
            "delivered_at": None,
            "read_at": None,
            "failed_at": None,
            "updated_at": T,
        },
        {
            "id": 2,
            "campaign_id": 1,
            "contact_id": 2,
            "phone_e164": "+5511987654321",
            "route": "freeform",
            "variables": "{}",
            "state": "skipped",
            "attempts": 0,
            "next_attempt_at": None,
            "provider_message_id": None,
            "error_code": "opted_out",
            "error_title": "Opted out",
            "error_detail": 'Replied "STOP" on WhatsApp',
            "sending_at": None,
            "sent_at": None,
            "delivered_at": None,
            "read_at": None,
            "failed_at": None,
            "updated_at": T,
        },
    ],
    "status_events": [
        {
            "id": 1,
            "account_id": 1,
            "provider_message_id": "3EB0C767D26A",
            "status": "delivered",
            "occurred_at": T,
            "received_at": T,
            "source": "webhook",
            "error_code": None,
            "raw": '{"recipient":"+14155550101"}',
        }
    ],
    "inbound_messages": [
        {
            "id": 1,
            "account_id": 1,
            "contact_id": 1,
            "from_phone": "+14155550101",
            "body": "Thanks!",
            "received_at": T,
            "provider_message_id": "3EB0AAAA",
        }
    ],
    "settings": [{"key": "default_region", "value": '"US"'}],
}


def fill(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        for table, rows in ROWS_0001.items():
            for values in rows:
                names = ", ".join(values)
                marks = ", ".join("?" for _ in values)
                conn.execute(
                    f"INSERT INTO {table} ({names}) VALUES ({marks})", list(values.values())
                )
        conn.commit()
    finally:
        conn.close()


def read_all(path: Path) -> dict[str, list[dict[str, Any]]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return {
            table: [dict(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY rowid")]
            for table in ROWS_0001
        }
    finally:
        conn.close()


def test_every_table_of_schema_0001_is_filled_by_the_fixture(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    make_0001(path)
    conn = sqlite3.connect(path)
    try:
        tables = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    finally:
        conn.close()
    assert tables - {"alembic_version", "sqlite_sequence"} == set(ROWS_0001)


def test_a_0001_database_opens_with_every_row_kept(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    make_0001(path)
    fill(path)
    assert read_revision(path) == "0001"
    before = read_all(path)
    assert before == {table: rows for table, rows in ROWS_0001.items()}

    with open_database(path) as db:
        assert db.revision == HEAD_REVISION
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, metadata) == []

    after = read_all(path)
    for table, rows in before.items():
        assert len(after[table]) == len(rows), table
        kept = [
            {name: row[name] for name in old} for row, old in zip(after[table], rows, strict=True)
        ]
        assert kept == rows, table
    # The one new column is empty until a provider names the message's second id.
    assert [row["provider_key_id"] for row in after["messages"]] == [None, None]
    assert read_revision(path) == HEAD_REVISION


def test_the_migrated_file_works_as_a_new_one(tmp_path: Path) -> None:
    """A webhook recorded under 0001 with the WhatsApp key id (unmatched then) reaches its
    message once the key id is learnt, after the upgrade."""
    path = tmp_path / "old.sqlite3"
    make_0001(path)
    fill(path)
    with open_database(path) as db:
        poll = StatusUpdate(
            "100000",
            DeliveryStatus.SENT,
            datetime(2025, 5, 1, 9, 0, 5, tzinfo=UTC),
            key_id="3EB0C767D26A",
        )
        summary = db.statuses.apply(
            [IncomingEvent(1, poll, datetime(2025, 5, 1, 9, 0, 6, tzinfo=UTC), "poll")]
        )
        assert summary.message_ids == (1,)
        with db.engine.connect() as conn:
            state, key_id, counters = conn.exec_driver_sql(
                "SELECT m.state, m.provider_key_id, c.counters FROM messages m "
                "JOIN campaigns c ON c.id = m.campaign_id WHERE m.id = 1"
            ).one()
    assert (state, key_id) == ("delivered", "3EB0C767D26A")
    assert counters == '{"delivered":1,"skipped":1}'


def make_0002(path: Path) -> None:
    """The file an installation of schema 0002 wrote, built by the migrations themselves."""
    engine = connect_engine(path)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_PATH))
        with writer(engine).begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0002")
    finally:
        engine.dispose()


def test_a_0002_database_opens_under_0003_with_every_row_kept(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    make_0002(path)
    fill(path)
    conn = sqlite3.connect(path)
    try:
        conn.execute("UPDATE messages SET provider_key_id = '3EB0C767D26A' WHERE id = 1")
        conn.commit()
    finally:
        conn.close()
    assert read_revision(path) == "0002"
    before = read_all(path)

    with open_database(path) as db:
        assert db.revision == HEAD_REVISION == "0003"
        with db.engine.connect() as conn2:
            context = MigrationContext.configure(
                conn2, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, metadata) == []
            indexes = {
                name
                for (name,) in conn2.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'"
                )
            }
    assert "ix_messages_campaign_id_sent_at" in indexes
    assert read_all(path) == before  # only an index was added
    assert before["messages"][0]["provider_key_id"] == "3EB0C767D26A"
