"""Opening the database file: checks, migrations, and the :class:`Database` handle.

:func:`open_database` is the only way in::

    db = open_database(data_dir / "waapp.sqlite3")
    worker.submit(db.contacts.add, contact)

Before anything can write to the file, its schema revision is read through a read-only
connection (``immutable`` when no ``-wal`` file exists, so that not even ``-wal``/``-shm``
files are created). A revision this code does not know — the file was written by a newer
waapp — raises :class:`~waapp.core.errors.DatabaseTooNew` and leaves the file untouched. A
file that is not a SQLite database, or a database of some other program, raises
:class:`~waapp.core.errors.StoreError`. Otherwise the file is upgraded to the newest
revision, all migrations in one transaction; Alembic is imported only when there is
something to migrate (it costs ~100 ms of start-up).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from waapp.core.errors import DatabaseTooNew, StoreError
from waapp.store.accounts import AccountRepository
from waapp.store.contacts import ContactRepository
from waapp.store.engine import connect_engine, writer
from waapp.store.groups import GroupRepository
from waapp.store.settings import SettingsRepository
from waapp.store.statuses import StatusRepository
from waapp.store.templates import TemplateRepository

__all__ = [
    "HEAD_REVISION",
    "KNOWN_REVISIONS",
    "MIGRATIONS_PATH",
    "Database",
    "open_database",
    "read_revision",
]

#: Every migration revision this code knows, oldest first. Keep in step with
#: ``migrations/versions`` (a test checks): it lets a current file open without Alembic.
KNOWN_REVISIONS: tuple[str, ...] = ("0001", "0002", "0003")
HEAD_REVISION = KNOWN_REVISIONS[-1]
MIGRATIONS_PATH = Path(__file__).with_name("migrations")


class Database:
    """An open waapp database: the Engine and the repositories over it.

    Attributes: ``path``, ``engine``, ``revision`` (the schema revision, after migration),
    ``contacts``, ``groups``, ``settings``, ``accounts``, ``templates``, ``statuses``. Repositories are synchronous: run them on the
    database worker thread (:class:`waapp.store.worker.DatabaseWorker`).
    """

    def __init__(self, *, path: Path, engine: Engine, revision: str) -> None:
        self.path = path
        self.engine = engine
        self.revision = revision
        self._writer = writer(engine)
        self.contacts = ContactRepository(engine)
        self.groups = GroupRepository(engine)
        self.settings = SettingsRepository(engine)
        self.accounts = AccountRepository(engine)
        self.templates = TemplateRepository(engine)
        self.statuses = StatusRepository(engine)

    def transaction(self) -> AbstractContextManager[Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): commits at the end of the ``with``,
        rolls back on an exception. Its commit survives an application crash, not
        necessarily a power cut; see :meth:`durable`."""
        return self._writer.begin()

    @contextmanager
    def durable(self) -> Iterator[Connection]:
        """A write transaction whose commit is on disk before the ``with`` ends.

        For the engine's claim (pending → sending before any request leaves): the
        connection runs with ``PRAGMA synchronous=FULL`` for this transaction, so the WAL is
        synced at commit and even a power cut cannot undo the claim after the ``with``
        returns. It costs an fsync per commit: use it for claims, not for result batches
        (``synchronous=NORMAL`` is enough there; a lost result is reconciled). The pragma
        cannot change inside a transaction, so it is set before ``BEGIN IMMEDIATE`` and set
        back to NORMAL before the connection returns to the pool.
        """
        with self._writer.connect() as conn:
            raw = conn.connection.driver_connection
            assert isinstance(raw, sqlite3.Connection)
            raw.execute("PRAGMA synchronous=FULL")
            try:
                with conn.begin():
                    yield conn
            finally:
                if conn.in_transaction():  # an error while committing: start clean
                    conn.rollback()
                raw.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        """Close every pooled connection. Idempotent; the repositories stop working."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _not_waapp(path: Path) -> StoreError:
    return StoreError(
        f"The file {path} is not a waapp database (it may be damaged, or belong to another "
        "program).",
        what_to_do="Move the file elsewhere to start with an empty database, or restore a "
        "backup of it.",
    )


def read_revision(path: Path) -> str | None:
    """The schema revision stored in ``path``, or None for a missing/empty database.

    Reads through a read-only connection that writes nothing, not even ``-wal``/``-shm``
    files when none exist. Raises StoreError when the file is not a SQLite database, or is
    one with tables of its own but no revision (another program's database).
    """
    if not path.exists() or path.stat().st_size == 0:
        return None
    # With a -wal file present its content may hold the newest commits: read it properly.
    # Without one, ``immutable`` keeps SQLite from creating -wal/-shm files beside the file.
    wal = path.with_name(path.name + "-wal")
    mode = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"The data file {path} cannot be opened ({exc}).") from exc
    try:
        tables = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if "alembic_version" not in tables:
            if tables - {"sqlite_sequence"}:
                raise _not_waapp(path)
            return None
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.DatabaseError as exc:
        raise _not_waapp(path) from exc
    finally:
        conn.close()
    if not rows:
        return None
    unknown = [rev for (rev,) in rows if rev not in KNOWN_REVISIONS]
    if unknown or len(rows) > 1:
        raise DatabaseTooNew(
            f"The data file {path} was written by a newer version of waapp "
            f"(schema {', '.join(str(rev) for (rev,) in rows)}; this version knows up to "
            f"{HEAD_REVISION})."
        )
    return str(rows[0][0])


def _upgrade(engine: Engine) -> str:
    """Migrate to the newest revision in one transaction; the revision reached."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    with writer(engine).begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        return str(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one())


def open_database(path: Path) -> Database:
    """Open (create, or upgrade) the waapp database at ``path``; see the module doc.

    Raises DatabaseTooNew (file untouched) or StoreError with a plain message.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"The data folder {path.parent} cannot be created ({exc.strerror})."
        ) from exc
    revision = read_revision(path)
    engine = connect_engine(path)
    try:
        if revision != HEAD_REVISION:
            revision = _upgrade(engine)
        else:
            # Connect once now so that a problem (permissions, locks) shows here, plainly.
            with engine.connect():
                pass
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(exc.orig) if isinstance(exc, DBAPIError) else str(exc)
        if "not a database" in reason:
            raise _not_waapp(path) from exc
        raise StoreError(f"The data file {path} cannot be opened or updated ({reason}).") from exc
    except BaseException:
        engine.dispose()
        raise
    return Database(path=path, engine=engine, revision=revision)
