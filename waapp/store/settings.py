"""Application settings: :class:`SettingsRepository` implements
:class:`waapp.core.ports.SettingsStore`. Values are JSON; secrets never go here (keyring)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.engine import Engine

from waapp.store.engine import json_text, writer
from waapp.store.schema import settings

__all__ = ["SettingsRepository"]


class SettingsRepository:
    """Key → JSON value. Call on the database worker thread."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = writer(engine)

    def get(self, key: str, default: Any = None) -> Any:
        """The stored value, or ``default`` when ``key`` was never set.

        A stored ``None`` is a value: it is returned as ``None``, not as ``default``.
        Values come back as JSON gives them: tuples become lists, dict keys strings.
        """
        with self._engine.connect() as conn:
            row = conn.execute(select(settings.c.value).where(settings.c.key == key)).first()
        return default if row is None else row.value

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serialisable; TypeError otherwise, nothing written)."""
        json_text(value)  # refuse before writing: the driver would wrap the TypeError
        stmt = insert(settings).values(key=key, value=value)
        stmt = stmt.on_conflict_do_update(index_elements=[settings.c.key], set_={"value": value})
        with self._writer.begin() as conn:
            conn.execute(stmt)
