"""The SQLite store: schema, migrations, repositories (implements the ports of ``core``).

- ``database``: :func:`open_database` → :class:`Database` (checks, migrations, durable commits)
- ``worker``: :class:`DatabaseWorker`, the one thread all database work runs on
- ``schema``: the Core tables and the UTC datetime type
- ``engine``: the Engine's pragmas and transaction modes
- ``contacts``, ``groups``, ``settings``: the repositories

Nothing is imported here, so that importing one module does not load the others.
"""
