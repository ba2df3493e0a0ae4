"""The SQLAlchemy Engine over one SQLite file: pragmas, transactions, SQL helpers.

Every connection gets, when it is opened:

- ``journal_mode=WAL`` — readers (the UI) never wait for the writer (the worker thread);
- ``foreign_keys=ON`` — SQLite leaves them off unless asked, per connection;
- ``synchronous=NORMAL`` — a commit survives an application crash, and may only be lost on
  power failure / OS crash; :meth:`Database.durable` raises it to FULL where that matters;
- ``busy_timeout=5000`` — wait up to 5 s for a lock instead of failing at once;
- the SQL function ``waapp_fold(text)`` (Unicode case folding) used by searches.

Transactions are SQLite's own (the driver's implicit transaction handling is switched off
and every SQLAlchemy ``begin`` emits ``BEGIN``), so reads inside a transaction see one
snapshot and SAVEPOINTs work. Writers use :func:`writer` (``BEGIN IMMEDIATE``): the write
lock is taken up front, so a read-then-write transaction can wait for a lock (busy_timeout)
instead of failing half way with "database is locked".
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import ConnectionPoolEntry

__all__ = [
    "IN_BATCH",
    "batched",
    "connect_engine",
    "escape_like",
    "fold",
    "json_text",
    "placeholders",
    "writer",
]

#: Most ids bound into one ``IN (…)``: well below SQLite's variable limit, and the size the
#: benchmarks measured (performance.md).
IN_BATCH = 500

_BEGIN_OPTION = "waapp_begin"
_T = TypeVar("_T")

_json_dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


def fold(text: str) -> str:
    """Unicode case folding (``"ÉLODIE"`` → ``"élodie"``); SQLite's own only folds ASCII."""
    return text.casefold()


def _sql_fold(value: str | bytes | int | float | None) -> str | bytes | int | float | None:
    # The SQL function waapp_fold: text folded, anything else (NULL, numbers) as it is.
    return value.casefold() if isinstance(value, str) else value


def escape_like(text: str, escape: str = "\\") -> str:
    """``text`` with LIKE's wildcards (and the escape character) escaped, for ``ESCAPE '\\'``."""
    return (
        text.replace(escape, escape + escape).replace("%", escape + "%").replace("_", escape + "_")
    )


def placeholders(count: int) -> str:
    """``?, ?, ?`` for an ``IN (…)`` of ``count`` values in raw SQL."""
    return ", ".join("?" * count)


def batched(items: Sequence[_T], size: int = IN_BATCH) -> Iterator[Sequence[_T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _on_connect(dbapi_connection: sqlite3.Connection, record: ConnectionPoolEntry) -> None:
    # Autocommit at the driver level: SQLAlchemy's "begin" event emits BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
    finally:
        cursor.close()
    dbapi_connection.create_function("waapp_fold", 1, _sql_fold, deterministic=True)


def _on_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(_BEGIN_OPTION, "")
    connection.exec_driver_sql(f"BEGIN {mode}" if mode else "BEGIN")


def connect_engine(path: Path) -> Engine:
    """An Engine for the SQLite file at ``path`` with waapp's pragmas (see module doc).

    Connecting is lazy: nothing touches the file until the first connection is made.
    """
    engine = create_engine(
        f"sqlite:///{path}",
        json_serializer=_json_dumps,
        # The worker thread writes; the UI may read meanwhile through its own connection.
        pool_size=2,
        max_overflow=4,
    )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def writer(engine: Engine) -> Engine:
    """A view of ``engine`` whose transactions start with ``BEGIN IMMEDIATE``.

    Same pool, same connections; only how ``begin()`` starts differs. Use it for every
    transaction that writes.
    """
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})


def json_text(value: Any) -> str:
    """``value`` as the store writes JSON; raises TypeError when it is not serialisable."""
    return _json_dumps(value)
