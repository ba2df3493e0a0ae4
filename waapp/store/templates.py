"""Templates: :class:`TemplateRepository`.

Three sorts of rows live in ``templates``:

- **synced** rows (``synced_at`` set): the provider's templates of one account, written only
  by :meth:`TemplateRepository.replace_synced` ("Sync from provider"). They are the
  provider's word: edit them at the provider and sync again.
- **drafts** (kind ``approved``, status ``DRAFT``, never synced): a template being written
  locally before it is submitted to the provider.
- **local free-form messages** (kind ``freeform``, never synced): text sent inside the 24 h
  window; with ``account_id`` NULL they can be used with any account.

Sync policy (``replace_synced``), decided here:

- upsert by ``(account_id, name, language)``; a draft with the same key becomes the synced
  template (the user submitted it elsewhere);
- a synced template the provider no longer lists is **deleted** when no campaign refers to
  it, and **kept with status ``DELETED``** when one does, so that a campaign's history still
  names what it sent. Both count as ``removed``. A ``DELETED`` row is deleted by a later
  sync once no campaign refers to it any more, and revived if the provider lists it again.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, delete, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from waapp.core.entities import PlaceholderFormat, Template, TemplateKind
from waapp.core.errors import DuplicateName, NotFound, ValidationError, WaappError
from waapp.store.engine import writer
from waapp.store.schema import accounts, campaigns, templates

__all__ = ["DELETED_STATUS", "DRAFT_STATUS", "SyncSummary", "TemplateRepository"]

_t = templates.c

DRAFT_STATUS = "DRAFT"
#: The status of a synced template the provider no longer lists but a campaign refers to.
DELETED_STATUS = "DELETED"

#: The columns a sync compares to decide whether a template changed.
_CONTENT_COLUMNS = (
    "kind",
    "body",
    "category",
    "header",
    "footer",
    "buttons",
    "placeholder_format",
    "provider_ref",
    "status",
    "quality",
)


@dataclass(frozen=True, slots=True)
class SyncSummary:
    """What "Sync from provider" changed."""

    added: int = 0
    updated: int = 0
    removed: int = 0  # deleted, or kept as DELETED because a campaign refers to it
    unchanged: int = 0


def _now() -> datetime:
    return datetime.now(UTC)


def _template(row: Row[Any]) -> Template:
    return Template(
        id=row.id,
        account_id=row.account_id,
        kind=TemplateKind(row.kind),
        name=row.name,
        body=row.body,
        language=row.language,
        category=row.category,
        header=None if row.header is None else dict(row.header),
        footer=row.footer,
        buttons=[dict(button) for button in row.buttons],
        placeholder_format=PlaceholderFormat(row.placeholder_format),
        provider_ref=row.provider_ref,
        status=row.status,
        quality=row.quality,
        synced_at=row.synced_at,
    )


def _content(template: Template) -> dict[str, Any]:
    return {
        "kind": TemplateKind(template.kind).value,
        "body": template.body,
        "category": template.category,
        "header": None if template.header is None else dict(template.header),
        "footer": template.footer,
        "buttons": [dict(button) for button in template.buttons],
        "placeholder_format": PlaceholderFormat(template.placeholder_format).value,
        "provider_ref": template.provider_ref,
        "status": template.status,
        "quality": template.quality,
    }


def _local_values(template: Template) -> dict[str, Any]:
    """The stored columns of a local template (free-form or draft), validated."""
    name = template.name.strip()
    if not name:
        raise ValidationError("A template needs a name.")
    kind = TemplateKind(template.kind)
    status = template.status
    if kind is TemplateKind.APPROVED:
        if status not in ("", DRAFT_STATUS):
            raise ValidationError(
                "Approved templates come from the provider.",
                what_to_do="Use “Sync from provider”, or save this one as a draft.",
            )
        status = DRAFT_STATUS
    values = _content(template)
    values.update(
        account_id=template.account_id,
        name=name,
        language=template.language.strip(),
        status=status,
        provider_ref=None,
        synced_at=None,
    )
    return values


def _duplicate(name: str, language: str) -> DuplicateName:
    what = f"“{name}” ({language})" if language else f"“{name}”"
    return DuplicateName(f"There is already a template called {what} here.")


def _same_key(values: dict[str, Any]) -> ColumnElement[bool]:
    account_id: int | None = values["account_id"]
    name: str = values["name"]
    language: str = values["language"]
    account = _t.account_id.is_(None) if account_id is None else _t.account_id == account_id
    return and_(account, _t.name == name, _t.language == language)


def _referenced_ids(conn: Connection, ids: Sequence[int]) -> set[int]:
    if not ids:
        return set()
    c = campaigns.c
    used = select(c.template_id, c.freeform_template_id).where(
        or_(c.template_id.in_(ids), c.freeform_template_id.in_(ids))
    )
    found: set[int] = set()
    for template_id, freeform_id in conn.execute(used):
        found.update(i for i in (template_id, freeform_id) if i is not None)
    return found & set(ids)


class TemplateRepository:
    """Templates over SQLite. Each method is one transaction; call it on the database worker."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _now) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._clock = clock

    # --- reads -------------------------------------------------------------------------

    def list(
        self,
        account_id: int | None = None,
        kind: TemplateKind | None = None,
        *,
        include_local: bool = True,
    ) -> builtins.list[Template]:
        """Templates by name and language.

        ``account_id`` None: every template. Otherwise that account's templates and, with
        ``include_local``, the account-less local ones (usable with any account).
        """
        stmt = select(templates).order_by(_t.name, _t.language, _t.id)
        if account_id is not None:
            mine = _t.account_id == account_id
            stmt = stmt.where(or_(mine, _t.account_id.is_(None)) if include_local else mine)
        if kind is not None:
            stmt = stmt.where(_t.kind == TemplateKind(kind).value)
        with self._engine.connect() as conn:
            return [_template(row) for row in conn.execute(stmt)]

    @staticmethod
    def _get(conn: Connection, template_id: int) -> Template:
        row = conn.execute(select(templates).where(_t.id == template_id)).first()
        if row is None:
            raise NotFound("This template no longer exists.")
        return _template(row)

    def get(self, template_id: int) -> Template:
        """Raises NotFound."""
        with self._engine.connect() as conn:
            return self._get(conn, template_id)

    # --- local templates ---------------------------------------------------------------

    def add(self, template: Template) -> Template:
        """Add a local free-form message or a draft (kind ``approved`` is saved as a
        ``DRAFT``). Raises DuplicateName for the same name and language in the same account
        (or among the account-less ones), ValidationError, NotFound (no such account)."""
        values = _local_values(template)
        with self._writer.begin() as conn:
            self._check_free(conn, values, exclude_id=None)
            try:
                new_id = conn.execute(
                    insert(templates).values(values).returning(_t.id)
                ).scalar_one()
            except IntegrityError as exc:
                raise self._integrity(conn, values) from exc
            return self._get(conn, new_id)

    def update(self, template: Template) -> Template:
        """Save a local template by id. Synced templates are refused (ValidationError):
        they are the provider's; edit them there and sync."""
        if template.id is None:
            raise ValueError("update() needs a template with an id; use add() for new ones")
        with self._writer.begin() as conn:
            stored = self._get(conn, template.id)
            if stored.synced_at is not None:
                raise ValidationError(
                    f"“{stored.name}” comes from the provider and cannot be edited here.",
                    what_to_do="Edit it in the provider's console, then use “Sync from provider”.",
                )
            values = _local_values(template)
            self._check_free(conn, values, exclude_id=template.id)
            try:
                conn.execute(update(templates).where(_t.id == template.id).values(values))
            except IntegrityError as exc:
                raise self._integrity(conn, values) from exc
            return self._get(conn, template.id)

    def delete(self, template_id: int) -> None:
        """Delete a local template, or a synced one the provider no longer has (``DELETED``).

        Refused (WaappError) while a campaign refers to it, and for a live synced template
        (it would come back with the next sync). Raises NotFound.
        """
        with self._writer.begin() as conn:
            stored = self._get(conn, template_id)
            if _referenced_ids(conn, [template_id]):
                raise WaappError(
                    f"“{stored.name}” cannot be deleted: a campaign uses it.",
                    what_to_do="Delete those campaigns first, or leave the template.",
                )
            if stored.synced_at is not None and stored.status != DELETED_STATUS:
                raise ValidationError(
                    f"“{stored.name}” comes from the provider; it would return with the next sync.",
                    what_to_do="Delete it in the provider's console, then use “Sync from provider”.",
                )
            conn.execute(delete(templates).where(_t.id == template_id))

    @staticmethod
    def _check_free(conn: Connection, values: dict[str, Any], *, exclude_id: int | None) -> None:
        """The UNIQUE constraint does not cover account-less rows (NULLs may repeat)."""
        stmt = select(_t.id).where(_same_key(values))
        if exclude_id is not None:
            stmt = stmt.where(_t.id != exclude_id)
        if conn.execute(stmt).first() is not None:
            raise _duplicate(values["name"], values["language"])

    @staticmethod
    def _integrity(conn: Connection, values: dict[str, Any]) -> WaappError:
        account_id = values["account_id"]
        if (
            account_id is not None
            and conn.execute(select(accounts.c.id).where(accounts.c.id == account_id)).first()
            is None
        ):
            return NotFound("This account no longer exists.")
        return _duplicate(values["name"], values["language"])

    # --- sync --------------------------------------------------------------------------

    def replace_synced(self, account_id: int, synced: Sequence[Template]) -> SyncSummary:
        """Make the account's synced templates what the provider listed (``synced``).

        One transaction; see the module doc for the policy. ``account_id`` of the given
        templates is ignored. A (name, language) listed twice keeps its first listing.
        Raises NotFound when the account does not exist.
        """
        now = self._clock()
        incoming: dict[tuple[str, str], Template] = {}
        for template in synced:
            incoming.setdefault((template.name, template.language), template)
        added = updated = unchanged = removed = 0
        with self._writer.begin() as conn:
            if (
                conn.execute(select(accounts.c.id).where(accounts.c.id == account_id)).first()
                is None
            ):
                raise NotFound("This account no longer exists.")
            stored = {
                (row.name, row.language): row
                for row in conn.execute(select(templates).where(_t.account_id == account_id))
            }
            for key, template in incoming.items():
                content = _content(template)
                row = stored.get(key)
                if row is None:
                    conn.execute(
                        insert(templates).values(
                            account_id=account_id,
                            name=key[0],
                            language=key[1],
                            synced_at=now,
                            **content,
                        )
                    )
                    added += 1
                    continue
                changed = row.synced_at is None or any(
                    getattr(row, column) != content[column] for column in _CONTENT_COLUMNS
                )
                conn.execute(
                    update(templates).where(_t.id == row.id).values(synced_at=now, **content)
                )
                if changed:
                    updated += 1
                else:
                    unchanged += 1
            gone = [
                row
                for key, row in stored.items()
                if key not in incoming and row.synced_at is not None
            ]
            referenced = _referenced_ids(conn, [row.id for row in gone])
            for row in gone:
                if row.id in referenced:
                    if row.status != DELETED_STATUS:
                        conn.execute(
                            update(templates).where(_t.id == row.id).values(status=DELETED_STATUS)
                        )
                        removed += 1
                else:
                    conn.execute(delete(templates).where(_t.id == row.id))
                    if row.status != DELETED_STATUS:
                        removed += 1
        return SyncSummary(added=added, updated=updated, removed=removed, unchanged=unchanged)
