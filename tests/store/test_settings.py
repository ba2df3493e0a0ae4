"""SettingsRepository on a real SQLite file."""

from __future__ import annotations

from typing import Any

import pytest

from waapp.core.ports import SettingsStore
from waapp.store.database import Database


def test_implements_the_port(db: Database) -> None:
    store: SettingsStore = db.settings
    assert store is db.settings


@pytest.mark.parametrize(
    "value",
    [
        "dark",
        "Ünïcödé ✓ नमस्ते",
        0,
        -3.5,
        True,
        False,
        None,
        [],
        [1, "two", None],
        {"window": {"width": 1280, "height": 800}, "columns": ["name", "phone"]},
    ],
)
def test_values_round_trip(db: Database, value: Any) -> None:
    db.settings.set("key", value)
    assert db.settings.get("key", "default") == value


def test_get_returns_the_default_only_when_never_set(db: Database) -> None:
    assert db.settings.get("missing") is None
    assert db.settings.get("missing", 42) == 42
    db.settings.set("nothing", None)
    assert db.settings.get("nothing", 42) is None


def test_set_overwrites(db: Database) -> None:
    db.settings.set("region", "IN")
    db.settings.set("region", "BR")
    assert db.settings.get("region") == "BR"


def test_values_survive_reopening(db: Database) -> None:
    from waapp.store.database import open_database

    db.settings.set("recent", ["a.xlsx", "b.csv"])
    db.close()
    with open_database(db.path) as again:
        assert again.settings.get("recent") == ["a.xlsx", "b.csv"]


def test_unserialisable_values_are_refused_before_writing(db: Database) -> None:
    db.settings.set("when", "kept")
    with pytest.raises(TypeError):
        db.settings.set("when", object())
    assert db.settings.get("when") == "kept"
