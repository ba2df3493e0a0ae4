"""Groups of contacts: :class:`GroupRepository` implements :class:`waapp.core.ports.GroupStore`."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, Select, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from waapp.core.entities import Group
from waapp.core.errors import DuplicateName, NotFound, ValidationError
from waapp.store.engine import batched, writer
from waapp.store.schema import contact_groups, contacts, groups

__all__ = ["GroupRepository"]

_g = groups.c
_m = contact_groups.c


def _now() -> datetime:
    return datetime.now(UTC)


def _with_counts() -> Select[Any]:
    """Groups with their member counts: one query, LEFT JOIN + GROUP BY, by name."""
    return (
        select(_g.id, _g.name, _g.created_at, func.count(_m.contact_id).label("member_count"))
        .select_from(groups.outerjoin(contact_groups, _m.group_id == _g.id))
        .group_by(_g.id)
        .order_by(_g.name, _g.id)
    )


def _group(row: Row[Any]) -> Group:
    return Group(id=row.id, name=row.name, created_at=row.created_at, member_count=row.member_count)


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationError("A group needs a name.")
    return cleaned


def _duplicate(name: str) -> DuplicateName:
    return DuplicateName(f"There is already a group called “{name}”.")


class GroupRepository:
    """:class:`~waapp.core.ports.GroupStore` over SQLite.

    Names are unique without regard to (ASCII) case; surrounding and repeated spaces are
    removed. Each method is one transaction; call it on the database worker thread.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _now) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._clock = clock

    def list(self) -> list[Group]:
        """Every group with its member count, by name."""
        with self._engine.connect() as conn:
            return [_group(row) for row in conn.execute(_with_counts())]

    @staticmethod
    def _get(conn: Connection, group_id: int) -> Group:
        row = conn.execute(_with_counts().where(_g.id == group_id)).first()
        if row is None:
            raise NotFound("This group no longer exists.")
        return _group(row)

    @staticmethod
    def _require(conn: Connection, group_id: int) -> None:
        if conn.execute(select(_g.id).where(_g.id == group_id)).first() is None:
            raise NotFound("This group no longer exists.")

    def create(self, name: str) -> Group:
        """Raises DuplicateName (case-insensitive) and ValidationError for a blank name."""
        name = _clean_name(name)
        with self._writer.begin() as conn:
            try:
                stmt = insert(groups).values(name=name, created_at=self._clock())
                new_id = conn.execute(stmt.returning(_g.id)).scalar_one()
            except IntegrityError as exc:
                raise _duplicate(name) from exc
            return self._get(conn, new_id)

    def rename(self, group_id: int, name: str) -> Group:
        """Raises NotFound, DuplicateName (another group has the name) and ValidationError."""
        name = _clean_name(name)
        with self._writer.begin() as conn:
            try:
                result = conn.execute(update(groups).where(_g.id == group_id).values(name=name))
            except IntegrityError as exc:
                raise _duplicate(name) from exc
            if result.rowcount == 0:
                raise NotFound("This group no longer exists.")
            return self._get(conn, group_id)

    def delete(self, group_id: int) -> None:
        """Deletes the group and its memberships, never its contacts. Raises NotFound."""
        with self._writer.begin() as conn:
            if conn.execute(delete(groups).where(_g.id == group_id)).rowcount == 0:
                raise NotFound("This group no longer exists.")

    def add_members(self, group_id: int, contact_ids: Sequence[int]) -> int:
        """Add these contacts; returns how many were new (already-members are not counted).

        One ``INSERT OR IGNORE`` executemany. Raises NotFound if the group or any of the
        contacts no longer exists; then nothing is added.
        """
        wanted = list(dict.fromkeys(contact_ids))
        with self._writer.begin() as conn:
            self._require(conn, group_id)
            if not wanted:
                return 0
            stmt = insert(contact_groups).prefix_with("OR IGNORE")
            try:
                rows = [{"group_id": group_id, "contact_id": i} for i in wanted]
                result = conn.execute(stmt, rows)
            except IntegrityError as exc:
                # A foreign key: OR IGNORE does not cover them, so a vanished contact lands here.
                raise NotFound(self._missing_contacts_message(conn, wanted)) from exc
            return result.rowcount

    @staticmethod
    def _missing_contacts_message(conn: Connection, ids: Sequence[int]) -> str:
        present: set[int] = set()
        for batch in batched(ids):
            present.update(
                conn.execute(select(contacts.c.id).where(contacts.c.id.in_(batch))).scalars()
            )
        missing = len(set(ids) - present)
        if missing == 1:
            return "One of these contacts no longer exists; nothing was added to the group."
        return f"{missing} of these contacts no longer exist; nothing was added to the group."

    def remove_members(self, group_id: int, contact_ids: Sequence[int]) -> int:
        """Remove these contacts from the group (never deletes them); how many were members."""
        removed = 0
        with self._writer.begin() as conn:
            for batch in batched(contact_ids):
                stmt = delete(contact_groups).where(
                    _m.group_id == group_id, _m.contact_id.in_(batch)
                )
                removed += conn.execute(stmt).rowcount
        return removed

    # ``builtins.list``: inside this class body ``list`` is the method above.
    def groups_of(self, contact_id: int) -> builtins.list[Group]:
        """The groups this contact belongs to, with their member counts, by name."""
        mine = select(_m.group_id).where(_m.contact_id == contact_id)
        with self._engine.connect() as conn:
            return [_group(row) for row in conn.execute(_with_counts().where(_g.id.in_(mine)))]
