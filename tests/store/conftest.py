"""Store fixtures: a migrated empty database is built once per session and copied per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from waapp.store.database import Database, open_database


@pytest.fixture(scope="session")
def migrated_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "waapp.sqlite3"
    open_database(path).close()
    # The last connection closed checkpoints the WAL: the one file is the whole database.
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    return path


@pytest.fixture
def db_path(tmp_path: Path, migrated_file: Path) -> Path:
    target = tmp_path / "data" / "waapp.sqlite3"
    target.parent.mkdir()
    shutil.copyfile(migrated_file, target)
    return target


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = open_database(db_path)
    yield database
    database.close()
