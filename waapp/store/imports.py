"""The bulk write of a spreadsheet import: one transaction, all or nothing.

The importer (``services/importer``) reads and classifies the file off the database worker
against a :meth:`ImportRepository.snapshot` of the stored numbers, then hands an
:class:`ImportPlan` to :meth:`ImportRepository.write`, which runs on the worker:

- one ``BEGIN IMMEDIATE`` transaction for everything (the group, new contacts, updates,
  opt-outs, memberships); a cancel (checked between batches and once more before the
  commit) or any failure rolls it all back;
- driver-level ``executemany`` with values converted up front (as
  :meth:`ContactRepository.add_many` does: Core's per-parameter processing doubled the time);
- if the contacts changed between the snapshot and the write (another window edited one),
  the plan is made again inside the transaction from a fresh snapshot (``replan``), so that
  the write never trips over a number added meanwhile.

Hazard: the write holds the database worker for its whole duration (about a second per
100 000 new contacts); other database work waits meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from waapp.core.errors import NotFound, StoreError, ValidationError
from waapp.core.progress import CancelToken, ProgressCallback, no_progress
from waapp.store.engine import batched, writer
from waapp.store.schema import contact_groups, contacts, format_utc, groups

__all__ = [
    "WRITE_BATCH",
    "ImportPlan",
    "ImportRepository",
    "Snapshot",
    "StoredContact",
    "WriteOutcome",
]

#: Rows per executemany: the cancel token is checked and progress reported between them.
WRITE_BATCH = 5_000

Fingerprint = tuple[int, int, str]

_C = contacts.name
_G = groups.name
_M = contact_groups.name

_INSERT_SQL = (
    f"INSERT INTO {_C} (phone_e164, name, fields, opted_out_at, opt_out_reason, created_at, "
    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_SQL = f"UPDATE {_C} SET name = ?, fields = ?, updated_at = ? WHERE id = ?"
# Opting out never overwrites an earlier opt-out (its first time and reason stay).
_OPT_OUT_SQL = (
    f"UPDATE {_C} SET opted_out_at = ?, opt_out_reason = ?, updated_at = ? "
    "WHERE id = ? AND opted_out_at IS NULL"
)
_MEMBER_SQL = f"INSERT OR IGNORE INTO {_M} (group_id, contact_id) VALUES (?, ?)"
_NEW_MEMBERS_SQL = (
    f"INSERT OR IGNORE INTO {_M} (group_id, contact_id) SELECT ?, id FROM {_C} WHERE id > ?"
)
_MEMBER_BY_PHONE_SQL = (
    f"INSERT OR IGNORE INTO {_M} (group_id, contact_id) SELECT ?, id FROM {_C} WHERE phone_e164 = ?"
)
_FINGERPRINT_SQL = f"SELECT count(*), coalesce(max(id), 0), coalesce(max(updated_at), '') FROM {_C}"
_SNAPSHOT_SQL = f"SELECT phone_e164, id, name, fields, opted_out_at IS NOT NULL FROM {_C}"

#: A new contact as the driver takes it:
#: (phone_e164, name, fields JSON, opted_out_at, opt_out_reason, created_at, updated_at).
NewRow = tuple[str, str, str, str | None, str | None, str, str]
#: (name, fields JSON, updated_at, id)
UpdateRow = tuple[str, str, str, int]
#: (opted_out_at, opt_out_reason, updated_at, id)
OptOutRow = tuple[str, str | None, str, int]


@dataclass(frozen=True, slots=True)
class StoredContact:
    """What an import needs to know about a stored contact; ``fields_json`` is parsed only
    for the contacts the file mentions."""

    id: int
    name: str
    fields_json: str
    opted_out: bool


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The stored contacts by number, and a fingerprint that changes with any write."""

    contacts: dict[str, StoredContact]
    fingerprint: Fingerprint


@dataclass(slots=True)
class ImportPlan:
    """What one import writes, with values ready for the driver (text times, JSON text).

    Every new contact joins the group (if any), and so do ``member_ids`` (the stored
    contacts the file mentions). ``fingerprint`` is that of the snapshot the plan was made
    from.
    """

    new_rows: list[NewRow] = field(default_factory=list)
    updates: list[UpdateRow] = field(default_factory=list)
    opt_outs: list[OptOutRow] = field(default_factory=list)
    member_ids: list[int] = field(default_factory=list)
    fingerprint: Fingerprint | None = None
    #: Anything the planner wants back with the outcome (the importer keeps its verdicts here).
    extra: Any = None

    @property
    def size(self) -> int:
        return len(self.new_rows) + len(self.updates) + len(self.opt_outs) + len(self.member_ids)


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    plan: ImportPlan  # the plan written: a fresh one when the store changed meanwhile
    group_id: int | None
    group_name: str | None
    group_created: bool
    added_to_group: int


def _now() -> datetime:
    return datetime.now(UTC)


def _fingerprint(conn: Connection) -> Fingerprint:
    count, max_id, max_updated = conn.exec_driver_sql(_FINGERPRINT_SQL).one()
    return int(count), int(max_id), str(max_updated)


def _snapshot(conn: Connection) -> Snapshot:
    stored = {
        phone: StoredContact(contact_id, name, fields_json, bool(opted_out))
        for phone, contact_id, name, fields_json, opted_out in conn.exec_driver_sql(_SNAPSHOT_SQL)
    }
    return Snapshot(stored, _fingerprint(conn))


def _clean_group_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationError("A group needs a name.")
    return cleaned


class ImportRepository:
    """Snapshots and the all-or-nothing write of imports. Call on the database worker."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _now) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._clock = clock

    def now_text(self) -> str:
        """The current time as the store writes it (for planners building rows)."""
        return format_utc(self._clock())

    def group_for(
        self, group_id: int | None, new_group_name: str | None
    ) -> tuple[str | None, bool]:
        """(name, would be created) of the group an import with these options fills."""
        with self._engine.connect() as conn:
            if group_id is not None:
                row = conn.exec_driver_sql(
                    f"SELECT name FROM {_G} WHERE id = ?", (group_id,)
                ).first()
                if row is None:
                    raise NotFound("The group chosen for this import no longer exists.")
                return str(row[0]), False
            if new_group_name is None:
                return None, False
            name = _clean_group_name(new_group_name)
            row = conn.exec_driver_sql(f"SELECT name FROM {_G} WHERE name = ?", (name,)).first()
            return (name, True) if row is None else (str(row[0]), False)

    def snapshot(self) -> Snapshot:
        """Every stored number with its contact, read in one pass (one read transaction)."""
        with self._engine.connect() as conn, conn.begin():
            return _snapshot(conn)

    def write(
        self,
        plan: ImportPlan,
        *,
        group_id: int | None = None,
        new_group_name: str | None = None,
        replan: Callable[[Snapshot], ImportPlan] | None = None,
        cancel: CancelToken | None = None,
        progress: ProgressCallback = no_progress,
    ) -> WriteOutcome:
        """Write ``plan`` in one transaction; nothing is written if anything fails.

        ``new_group_name`` (when ``group_id`` is None) names the group everyone imported
        joins: an existing group of that name (ignoring case) or a new one. Raises
        :class:`~waapp.core.progress.Cancelled` when ``cancel`` is set between batches,
        NotFound when ``group_id`` no longer exists, StoreError when the contacts changed
        since ``plan``'s snapshot and no ``replan`` is given. ``progress(done, total)``
        counts rows written, from the worker thread.
        """
        token = cancel or CancelToken()
        try:
            with self._writer.begin() as conn:
                if plan.fingerprint is not None and _fingerprint(conn) != plan.fingerprint:
                    if replan is None:
                        raise StoreError(
                            "The contacts changed while the file was being read; nothing was "
                            "imported.",
                            what_to_do="Start the import again.",
                        )
                    plan = replan(_snapshot(conn))
                token.raise_if_cancelled()
                group, name, created = self._group(conn, group_id, new_group_name)
                before = int(
                    conn.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {_C}").scalar_one()
                )
                total = plan.size
                done = 0
                progress(done, total)
                for sql, rows in (
                    (_INSERT_SQL, plan.new_rows),
                    (_UPDATE_SQL, plan.updates),
                    (_OPT_OUT_SQL, plan.opt_outs),
                ):
                    for batch in batched(rows, WRITE_BATCH):
                        conn.exec_driver_sql(sql, list(batch))
                        done += len(batch)
                        progress(done, total)
                        token.raise_if_cancelled()
                added = 0
                if group is not None:
                    added = self._add_members(conn, group, before, plan)
                    progress(total, total)
                token.raise_if_cancelled()
        except IntegrityError as exc:
            raise StoreError(
                "The import could not be saved: the contacts changed while it was running. "
                "Nothing was imported.",
                what_to_do="Start the import again.",
            ) from exc
        return WriteOutcome(plan, group, name, created, added)

    def _group(
        self, conn: Connection, group_id: int | None, new_group_name: str | None
    ) -> tuple[int | None, str | None, bool]:
        """(id, name, created) of the group the import fills, created when asked."""
        if group_id is not None:
            row = conn.exec_driver_sql(
                f"SELECT id, name FROM {_G} WHERE id = ?", (group_id,)
            ).first()
            if row is None:
                raise NotFound("The group chosen for this import no longer exists.")
            return int(row[0]), str(row[1]), False
        if new_group_name is None:
            return None, None, False
        name = _clean_group_name(new_group_name)
        row = conn.exec_driver_sql(f"SELECT id, name FROM {_G} WHERE name = ?", (name,)).first()
        if row is not None:  # the column's NOCASE collation makes "vip" find "VIP"
            return int(row[0]), str(row[1]), False
        new_id = conn.exec_driver_sql(
            f"INSERT INTO {_G} (name, created_at) VALUES (?, ?) RETURNING id",
            (name, format_utc(self._clock())),
        ).scalar_one()
        return int(new_id), name, True

    @staticmethod
    def _add_members(conn: Connection, group: int, before: int, plan: ImportPlan) -> int:
        added = 0
        if plan.new_rows:
            # New contacts got ids above the largest one before the insert (SQLite's rowid
            # rule; this transaction is the only writer). Checked, with a slower fallback.
            fresh = conn.exec_driver_sql(
                f"SELECT count(*) FROM {_C} WHERE id > ?", (before,)
            ).scalar_one()
            if fresh == len(plan.new_rows):
                added += conn.exec_driver_sql(_NEW_MEMBERS_SQL, (group, before)).rowcount
            else:
                rows = [(group, row[0]) for row in plan.new_rows]
                added += _executemany_count(conn, _MEMBER_BY_PHONE_SQL, rows)
        if plan.member_ids:
            rows_by_id = [(group, contact_id) for contact_id in dict.fromkeys(plan.member_ids)]
            added += _executemany_count(conn, _MEMBER_SQL, rows_by_id)
        return added


def _executemany_count(conn: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> int:
    count = 0
    for batch in batched(rows, WRITE_BATCH):
        count += conn.exec_driver_sql(sql, list(batch)).rowcount
    return count
