"""The templates table: a small QAbstractTableModel over the filtered list (an account has
tens of templates, not thousands, so the view filters and sorts in memory), and the words
and colours every templates widget uses for kinds, statuses and quality."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from waapp.core.entities import Template, TemplateKind
from waapp.store.templates import DELETED_STATUS, DRAFT_STATUS
from waapp.ui.theme import status_color

_Index = QModelIndex | QPersistentModelIndex

# Status first after the name: it is what decides whether a template can be sent.
COLUMNS = ["Name", "Status", "Quality", "Kind", "Account", "Language", "Category"]
STATUS_COLUMN = COLUMNS.index("Status")
QUALITY_COLUMN = COLUMNS.index("Quality")

OK_VALUES = {"APPROVED", "GREEN"}
WARN_VALUES = {"PENDING", "IN_APPEAL", "YELLOW"}
BAD_VALUES = {"REJECTED", "PAUSED", "DISABLED", "RED"}

STATUS_LABELS = {
    "APPROVED": "Approved",
    "PENDING": "Pending review",
    "IN_APPEAL": "In appeal",
    "REJECTED": "Rejected",
    "PAUSED": "Paused",
    "DISABLED": "Disabled",
    "PENDING_DELETION": "Being deleted",
    DELETED_STATUS: "Deleted at the provider",
    DRAFT_STATUS: "Draft",
    "LIMIT_EXCEEDED": "Limit exceeded",
    # Twilio's approval statuses are lowercase; the provider module passes them upper-cased.
    "RECEIVED": "Pending review",
    "UNSUBMITTED": "Not submitted",
}

QUALITY_LABELS = {"GREEN": "High", "YELLOW": "Medium", "RED": "Low", "UNKNOWN": "Not rated yet"}

#: What each status means for sending, one sentence for the detail pane.
STATUS_MEANINGS = {
    "APPROVED": "Approved by WhatsApp: it can be sent at any time, also outside the 24-hour window.",
    "PENDING": "Waiting for WhatsApp's review (usually minutes, up to 24 hours); it cannot be sent yet.",
    "RECEIVED": "Waiting for WhatsApp's review (usually minutes, up to 24 hours); it cannot be sent yet.",
    "IN_APPEAL": "Rejected, and you appealed; it cannot be sent until the appeal is decided.",
    "REJECTED": "Rejected by WhatsApp; it cannot be sent. The provider's console says why — fix it there and submit it again.",
    "PAUSED": "Paused by WhatsApp because recipients reported or blocked it; campaigns using it pause until it is active again.",
    "DISABLED": "Disabled by WhatsApp after repeated low quality; it can no longer be sent. Create a new template.",
    DELETED_STATUS: "The provider no longer has this template; it is kept because a campaign refers to it.",
    DRAFT_STATUS: "A draft kept on this computer. Submit it in your provider's console, then use “Sync from provider”.",
}

# (label, test) for the status filter
STATUS_FILTERS: list[tuple[str, Callable[[Template], bool]]] = [
    ("All statuses", lambda t: True),
    ("Approved", lambda t: t.status in OK_VALUES),
    ("Waiting for review", lambda t: t.status in WARN_VALUES | {"RECEIVED"}),
    ("Rejected, paused or disabled", lambda t: t.status in BAD_VALUES),
    ("Drafts and free-form messages", lambda t: t.synced_at is None),
]

KIND_FILTERS: list[tuple[str, str | None]] = [
    ("All kinds", None),
    ("Approved WhatsApp templates", "approved"),
    ("Free-form messages", "freeform"),
    ("Drafts", "draft"),
]


def kind_key(template: Template) -> str:
    """ "approved", "freeform" or "draft" (a local, never-synced approved template)."""
    if template.kind is TemplateKind.FREEFORM:
        return "freeform"
    return "draft" if template.synced_at is None else "approved"


def kind_label(template: Template) -> str:
    return {
        "approved": "Approved WhatsApp template",
        "freeform": "Free-form message",
        "draft": "Draft",
    }[kind_key(template)]


def status_kind(value: str) -> str:
    """ "ok", "warn", "bad" or "muted" for a status or a quality rating."""
    if value in OK_VALUES:
        return "ok"
    if value in WARN_VALUES:
        return "warn"
    if value in BAD_VALUES:
        return "bad"
    return "muted"


def status_label(template: Template) -> str:
    if not template.status:
        return "Ready" if template.kind is TemplateKind.FREEFORM else "—"
    return STATUS_LABELS.get(template.status, template.status.replace("_", " ").capitalize())


def quality_label(template: Template) -> str:
    if not template.quality:
        return "—"
    return QUALITY_LABELS.get(template.quality, template.quality.capitalize())


def language_label(code: str) -> str:
    return code.replace("_", "-") if code else "—"


class TemplatesModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Template] = []
        self._accounts: dict[int, str] = {}
        self._sort = (0, Qt.SortOrder.AscendingOrder)

    def set_rows(self, templates: Sequence[Template], accounts: Mapping[int, str]) -> None:
        self.beginResetModel()
        try:
            self._accounts = dict(accounts)
            self._rows = list(templates)
            self._sort_rows()
        finally:
            self.endResetModel()

    def template_at(self, row: int) -> Template:
        return self._rows[row]

    def row_of(self, template_id: int | None) -> int | None:
        return next((i for i, t in enumerate(self._rows) if t.id == template_id), None)

    def account_name(self, template: Template) -> str:
        if template.account_id is None:
            return "Any account"
        return self._accounts.get(template.account_id, "(removed account)")

    def _text(self, template: Template, column: int) -> str:
        match COLUMNS[column]:
            case "Name":
                return template.name
            case "Status":
                return status_label(template)
            case "Quality":
                return quality_label(template)
            case "Kind":
                return kind_label(template)
            case "Account":
                return self.account_name(template)
            case "Language":
                return language_label(template.language)
            case _:
                return template.category.capitalize() if template.category else "—"

    # --- Qt ------------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        template = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(template, column)
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == STATUS_COLUMN:
                return status_color(status_kind(template.status))
            if column == QUALITY_COLUMN:
                return status_color(status_kind(template.quality))
            if self._text(template, column) == "—":
                return status_color("muted")
            return None
        if role == Qt.ItemDataRole.ToolTipRole and column == STATUS_COLUMN:
            return STATUS_MEANINGS.get(template.status)
        if role == Qt.ItemDataRole.UserRole:
            return template.id
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(COLUMNS)
        ):
            return COLUMNS[section]
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        try:
            before = self.persistentIndexList()
            moved = [(index, self._rows[index.row()]) for index in before]
            self._sort = (column, order)
            self._sort_rows()
            position = {id(t): row for row, t in enumerate(self._rows)}
            self.changePersistentIndexList(
                before,
                [self.index(position[id(t)], index.column()) for index, t in moved],
            )
        finally:
            self.layoutChanged.emit()

    def _sort_rows(self) -> None:
        column, order = self._sort
        self._rows.sort(
            key=lambda t: (self._text(t, column).casefold(), t.name.casefold(), t.id or 0),
            reverse=order == Qt.SortOrder.DescendingOrder,
        )
