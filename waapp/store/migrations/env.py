"""Alembic's environment: migrations run only on the connection ``open_database`` passes in.

There is no alembic.ini and no offline (SQL script) mode: the application migrates its own
file at start-up, inside one transaction (SQLite DDL is transactional), so a migration that
fails half way leaves the file as it was.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from waapp.store.schema import metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection) or context.is_offline_mode():
        raise RuntimeError(
            "waapp migrations run on a live connection passed by open_database(), "
            "in config.attributes['connection']"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: future migrations rebuild tables in batch mode.
        render_as_batch=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
