"""Alembic migrations of the waapp database, run by :func:`waapp.store.database.open_database`.

Add a revision: copy the newest file in ``versions/``, give it the next number as
``revision`` and the previous one as ``down_revision``, write explicit ``op`` calls, and add
the number to :data:`waapp.store.database.KNOWN_REVISIONS` (a test checks both agree, and
that the migrated schema equals ``store/schema.py``).
"""
