"""Opening, migrating and refusing database files; connection pragmas; durable commits."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from waapp.core.errors import DatabaseTooNew, StoreError
from waapp.store.database import (
    HEAD_REVISION,
    KNOWN_REVISIONS,
    MIGRATIONS_PATH,
    Database,
    open_database,
    read_revision,
)
from waapp.store.schema import contact_groups, metadata, settings


def _files(folder: Path) -> dict[str, bytes]:
    """Every file of ``folder`` with its bytes: what "left untouched" is checked against."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _set_revision(path: Path, revision: str) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        conn.commit()
    finally:
        conn.close()


def _pragma(db: Database, name: str) -> object:
    with db.engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


# --- migrations --------------------------------------------------------------------------


def test_migrates_a_new_file_in_a_new_folder(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there" / "waapp.sqlite3"
    with open_database(path) as db:
        assert db.revision == HEAD_REVISION
        assert db.path == path
        with db.engine.connect() as conn:
            names = {
                row[0]
                for row in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")
            }
    assert set(metadata.tables) | {"alembic_version"} <= names
    assert read_revision(path) == HEAD_REVISION


def test_migrates_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "waapp.sqlite3"
    path.touch()
    with open_database(path) as db:
        assert db.revision == HEAD_REVISION


def test_migrated_schema_equals_the_metadata(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, metadata) == []


def test_known_revisions_are_the_migration_scripts() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    scripts = ScriptDirectory.from_config(config)
    in_order = [script.revision for script in scripts.walk_revisions()][::-1]
    assert tuple(in_order) == KNOWN_REVISIONS
    assert scripts.get_current_head() == HEAD_REVISION


def test_reopening_a_current_file_changes_nothing(db_path: Path) -> None:
    before = _files(db_path.parent)
    with open_database(db_path) as db:
        assert db.revision == HEAD_REVISION
    assert _files(db_path.parent) == before


def test_data_survives_reopening(db_path: Path) -> None:
    with open_database(db_path) as db:
        db.settings.set("theme", "dark")
    with open_database(db_path) as db:
        assert db.settings.get("theme") == "dark"


# --- refusals ----------------------------------------------------------------------------


def test_a_newer_database_is_refused_and_left_byte_identical(db_path: Path) -> None:
    _set_revision(db_path, "9999_from_the_future")
    before = _files(db_path.parent)
    assert list(before) == [db_path.name]

    with pytest.raises(DatabaseTooNew) as raised:
        open_database(db_path)

    assert "newer version of waapp" in str(raised.value)
    assert raised.value.what_to_do
    assert _files(db_path.parent) == before  # same bytes, and no -wal / -shm created


def test_a_newer_revision_still_in_the_wal_is_seen(db_path: Path) -> None:
    # A newer waapp still running (or killed) has its upgrade in the -wal file only.
    other = sqlite3.connect(db_path)
    try:
        other.execute("PRAGMA wal_autocheckpoint=0")
        other.execute("UPDATE alembic_version SET version_num = '9999'")
        other.commit()
        assert db_path.with_name(db_path.name + "-wal").stat().st_size > 0
        main_file = db_path.read_bytes()

        with pytest.raises(DatabaseTooNew):
            open_database(db_path)

        assert db_path.read_bytes() == main_file
    finally:
        other.close()


def test_a_garbage_file_gives_a_plain_store_error(tmp_path: Path) -> None:
    path = tmp_path / "waapp.sqlite3"
    path.write_bytes(b"PK\x03\x04 this is a spreadsheet, not a database " * 50)
    before = path.read_bytes()

    with pytest.raises(StoreError) as raised:
        open_database(path)

    assert not isinstance(raised.value, DatabaseTooNew)
    assert "is not a waapp database" in str(raised.value)
    assert "sqlalche.me" not in str(raised.value)
    assert path.read_bytes() == before


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, file TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()

    with pytest.raises(StoreError, match="not a waapp database"):
        open_database(path)

    assert path.read_bytes() == before


# --- connections -------------------------------------------------------------------------


def test_connections_use_wal_and_foreign_keys(db: Database) -> None:
    assert _pragma(db, "journal_mode") == "wal"
    assert _pragma(db, "foreign_keys") == 1
    assert _pragma(db, "synchronous") == 1  # NORMAL
    assert _pragma(db, "busy_timeout") == 5000


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError), db.transaction() as conn:
        conn.execute(insert(contact_groups).values(group_id=404, contact_id=404))


def test_transaction_commits_or_rolls_back(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute(insert(settings).values(key="kept", value=1))
    with pytest.raises(RuntimeError), db.transaction() as conn:
        conn.execute(insert(settings).values(key="dropped", value=2))
        raise RuntimeError("boom")
    with db.engine.connect() as conn:
        keys = set(conn.execute(select(settings.c.key)).scalars())
    assert keys == {"kept"}


def test_durable_commits_with_synchronous_full_then_restores_normal(db: Database) -> None:
    with db.durable() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        conn.execute(insert(settings).values(key="claim", value=[1, 2, 3]))
    assert db.settings.get("claim") == [1, 2, 3]
    # The pool hands out the same connection again: it must be back to NORMAL.
    assert _pragma(db, "synchronous") == 1


def test_durable_rolls_back_on_error(db: Database) -> None:
    with pytest.raises(RuntimeError), db.durable() as conn:
        conn.execute(insert(settings).values(key="claim", value=1))
        raise RuntimeError("the claim failed")
    assert db.settings.get("claim", "absent") == "absent"
    assert _pragma(db, "synchronous") == 1


def test_close_is_idempotent(db_path: Path) -> None:
    db = open_database(db_path)
    db.close()
    db.close()


def test_opening_a_current_file_imports_neither_alembic_nor_the_orm(db_path: Path) -> None:
    # Start-up budget (performance.md): sqlalchemy.orm costs ~600 ms, alembic ~100 ms.
    code = (
        "import sys; from pathlib import Path\n"
        "from waapp.store.database import open_database\n"
        f"open_database(Path({str(db_path)!r})).close()\n"
        "print(sorted(m for m in sys.modules if m == 'alembic' or m.startswith('sqlalchemy.orm')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
