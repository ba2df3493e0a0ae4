"""Write a free-form message (or a draft of an approved template): name, body, placeholder
chips, a live preview on a sample contact, a character counter against the provider's limit
and the problems in plain words. Save stays off while the placeholders are malformed or the
text is too long; a refused save shows inline and keeps everything typed."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent, QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from waapp.core.entities import Account, Contact, PlaceholderFormat, Template, TemplateKind
from waapp.core.errors import WaappError
from waapp.core.phones import display_phone
from waapp.core.templates import (
    BUILTIN_FIELDS,
    TEMPLATE_BODY_MAX_CHARS,
    VariableSource,
    freeform_limit,
    parse_placeholders,
    placeholder_problems,
)
from waapp.services.templates import (
    SAMPLE_CONTACT,
    TemplateService,
    freeform_mapping,
    limit_provider,
    placeholder_name,
)
from waapp.ui.ops import Op
from waapp.ui.templates.flow import FlowLayout
from waapp.ui.theme import is_dark, status_color
from waapp.ui.wizard_bar import error_label

CATEGORIES = [
    ("Marketing", "MARKETING"),
    ("Utility", "UTILITY"),
    ("Authentication", "AUTHENTICATION"),
]
PREVIEW_MAX_HEIGHT = 120
BUILTIN_LABELS = {"name": "Name", "first_name": "First name", "phone": "Phone"}

CHIP_STYLE = """
QPushButton#chip {
    padding: 3px 11px; border-radius: 11px; border: 1px solid palette(mid);
    background: palette(base); min-width: 0;
}
QPushButton#chip:hover { border-color: palette(highlight); }
QPushButton#chip:pressed { background: palette(midlight); }
QPushButton#chip:disabled { color: palette(placeholder-text); border-style: dashed; }
"""

CONVENTION_HINT = (
    "Click a field to insert it at the cursor. In a free-form message each {{placeholder}} "
    "is filled from the contact's field of the same name: {{city}} becomes their “city”."
)


def bubble_style() -> str:
    """A WhatsApp-like message bubble, on either theme."""
    background, text = ("#005c4b", "#e9edef") if is_dark() else ("#d9fdd3", "#111b21")
    return (
        f"QLabel {{ background: {background}; color: {text}; border-radius: 8px; "
        "padding: 8px 10px; }"
    )


class TemplateEditor(QDialog):
    def __init__(
        self,
        service: TemplateService,
        *,
        accounts: Sequence[Account],
        field_names: Sequence[str],
        samples: Sequence[Contact],
        template: Template | None = None,
        account_id: int | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._service = service
        self._accounts = list(accounts)
        self._fields = list(field_names)
        self._template = template
        self.saved: Template | None = None
        editing_draft = template is not None and template.kind is TemplateKind.APPROVED
        self.setWindowTitle(
            "New message"
            if template is None
            else ("Edit draft" if editing_draft else f"Edit “{template.name}”")
        )
        self.setMinimumWidth(640)
        self.resize(680, 660)

        # --- what it is --------------------------------------------------------------------
        self.name = QLineEdit(template.name if template else "")
        self.name.setPlaceholderText("e.g. Order ready for pickup")
        self.kind = QComboBox()
        self.kind.addItem(
            "Free-form message (sent inside the 24-hour window)", TemplateKind.FREEFORM
        )
        self.kind.addItem("Draft of an approved WhatsApp template", TemplateKind.APPROVED)
        self.kind.setCurrentIndex(1 if editing_draft else 0)
        self.account = QComboBox()
        self.account.addItem("Any account", None)
        for account in self._accounts:
            self.account.addItem(account.name, account.id)
        chosen = template.account_id if template is not None else account_id
        self.account.setCurrentIndex(max(0, self.account.findData(chosen)))
        self.language = QLineEdit(template.language if template and template.language else "en_US")
        self.language.setPlaceholderText("e.g. en_US, hi, es_MX")
        self.category = QComboBox()
        for label, value in CATEGORIES:
            self.category.addItem(label, value)
        if template is not None and template.category:
            self.category.setCurrentIndex(max(0, self.category.findData(template.category)))
        self.form = QFormLayout()
        self.form.addRow("Name", self.name)
        self.form.addRow("Kind", self.kind)
        self.form.addRow("Account", self.account)
        self.form.addRow("Language", self.language)
        self.form.addRow("Category", self.category)

        # --- chips and body ----------------------------------------------------------------
        self.hint = QLabel(CONVENTION_HINT)
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)
        self.chips: dict[str, QPushButton] = {}
        chip_box = QWidget()
        chip_box.setStyleSheet(CHIP_STYLE)
        flow = FlowLayout(chip_box)
        for field in (*BUILTIN_FIELDS, *self._fields):
            token = placeholder_name(field)
            if token is None or token in self.chips:
                continue
            chip = QPushButton(BUILTIN_LABELS.get(field, field))
            chip.setObjectName("chip")
            chip.setToolTip(f"Insert {{{{{token}}}}}: the contact's {field}")
            chip.setCursor(Qt.CursorShape.PointingHandCursor)
            chip.clicked.connect(lambda _c=False, t=token: self.insert(f"{{{{{t}}}}}"))
            flow.addWidget(chip)
            self.chips[token] = chip
        self.number_chip = QPushButton("{{1}}")
        self.number_chip.setObjectName("chip")
        self.number_chip.setToolTip(
            "Insert the next numbered placeholder; a campaign maps it to a field or fixed text"
        )
        self.number_chip.clicked.connect(lambda: self.insert(self.number_chip.text()))
        flow.addWidget(self.number_chip)

        self.body = QPlainTextEdit(template.body if template else "")
        self.body.setPlaceholderText(
            "Hi {{first_name}}, your order is ready for pickup at our {{city}} store."
        )
        self.body.setMinimumHeight(130)
        self.body.setTabChangesFocus(True)
        self.counter = QLabel()
        self.counter.setAlignment(Qt.AlignmentFlag.AlignRight)

        # --- preview -----------------------------------------------------------------------
        self.sample = QComboBox()
        for contact in samples:
            label = contact.name.strip() or display_phone(contact.phone_e164)
            self.sample.addItem(f"{label}  ({display_phone(contact.phone_e164)})", contact)
        if not samples:
            self.sample.addItem(
                f"{SAMPLE_CONTACT.name}, {display_phone(SAMPLE_CONTACT.phone_e164)}, city Pune "
                "(a sample — you have no contacts yet)",
                SAMPLE_CONTACT,
            )
        self.preview = QLabel()
        self.preview.setTextFormat(Qt.TextFormat.PlainText)
        self.preview.setWordWrap(True)
        self.preview.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.preview.setStyleSheet(bubble_style())
        self.preview.setMinimumHeight(40)
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setTextFormat(Qt.TextFormat.PlainText)
        self.note = QLabel()
        self.note.setObjectName("hint")
        self.note.setWordWrap(True)
        self.error = error_label()

        sample_row = QHBoxLayout()
        sample_row.addWidget(QLabel("Preview for"))
        sample_row.addWidget(self.sample, 1)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        self.blocker = QLabel()
        self.blocker.setWordWrap(True)
        self.blocker.setStyleSheet(f"color: {status_color('bad').name()};")
        bottom = QHBoxLayout()
        bottom.addWidget(self.blocker, 1)
        bottom.addWidget(self.buttons)

        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addSpacing(4)
        layout.addWidget(self.hint)
        layout.addWidget(chip_box)
        layout.addWidget(self.body, 1)
        layout.addWidget(self.counter)
        layout.addLayout(sample_row)
        self.preview_box = QScrollArea()
        self.preview_box.setWidget(self.preview)
        self.preview_box.setWidgetResizable(True)
        self.preview_box.setFrameShape(QFrame.Shape.NoFrame)
        layout.addWidget(self.preview_box)
        layout.addWidget(self.problems)
        layout.addWidget(self.note)
        layout.addWidget(self.error)
        layout.addLayout(bottom)

        for signal in (
            self.body.textChanged,
            self.name.textChanged,
            self.kind.currentIndexChanged,
            self.account.currentIndexChanged,
            self.sample.currentIndexChanged,
        ):
            signal.connect(self.refresh)
        self.refresh()
        if template is not None:
            cursor = self.body.textCursor()
            cursor.movePosition(QTextCursor.MoveOperation.End)
            self.body.setTextCursor(cursor)
            self.body.setFocus()
        else:
            self.name.setFocus()

    # --- state ---------------------------------------------------------------------------

    def current_kind(self) -> TemplateKind:
        return TemplateKind(self.kind.currentData())

    def current_account(self) -> Account | None:
        account_id = self.account.currentData()
        return next((a for a in self._accounts if a.id == account_id), None)

    def current_sample(self) -> Contact:
        contact = self.sample.currentData()
        return contact if isinstance(contact, Contact) else SAMPLE_CONTACT

    def limit(self) -> int:
        if self.current_kind() is TemplateKind.APPROVED:
            return TEMPLATE_BODY_MAX_CHARS
        return freeform_limit(limit_provider(self.current_account()))

    def insert(self, token: str) -> None:
        """Put ``token`` at the cursor (replacing a selection), and keep typing there."""
        cursor = self.body.textCursor()
        cursor.insertText(token)
        self.body.setTextCursor(cursor)
        self.body.setFocus()

    def refresh(self) -> None:
        """Re-check everything after any change: chips, counter, preview, problems, Save."""
        draft = self.current_kind() is TemplateKind.APPROVED
        self.form.setRowVisible(self.language, draft)
        self.form.setRowVisible(self.category, draft)
        body = self.body.toPlainText()
        limit = self.limit()
        length = len(body)
        over = length > limit
        self.counter.setText(f"{length:,} / {limit:,} characters")
        self.counter.setStyleSheet(f"color: {status_color('bad').name()};" if over else "")

        syntax = placeholder_problems(body)
        mapping: dict[str, VariableSource] = {}
        numbered: list[str] = []
        if not syntax:
            placeholders = parse_placeholders(body)
            mapping = freeform_mapping(placeholders, self._fields)
            # Numbered placeholders are mapped in the campaign; keep them visible here.
            numbered = [n for n in placeholders.names if n.isdigit()]
            mapping.update({n: VariableSource(text=f"{{{{{n}}}}}") for n in numbered})
            self._update_chips(placeholders.format if placeholders.names else None, numbered)
        else:
            self._update_chips(None, [])
        result = self._service.preview(
            body,
            mapping,
            self.current_sample(),
            kind=self.current_kind(),
            provider=limit_provider(self.current_account()),
            available_fields=self._fields,
        )
        self.preview.setText(result.text if body.strip() else "(the message is empty)")
        self._fit_preview()
        problems = [p for p in result.problems if p != "the message is empty"]
        if problems:
            kind = "bad" if syntax or over else "warn"
            self.problems.setText("\n".join(f"• {p[:1].upper()}{p[1:]}" for p in problems))
            self.problems.setStyleSheet(f"color: {status_color(kind).name()};")
        elif body.strip():
            who = self.current_sample().name or "this contact"
            if numbered:
                text = "✓ No problems found."
            elif mapping:
                text = f"✓ Every placeholder has a value for {who}, and it fits."
            else:
                text = "✓ It fits; every contact gets this same text."
            self.problems.setText(text)
            self.problems.setStyleSheet(f"color: {status_color('ok').name()};")
        else:
            self.problems.setText("")
        self.note.setText(
            "Numbered placeholders ("
            + ", ".join(f"{{{{{n}}}}}" for n in numbered)
            + ") get their values when you use this in a campaign."
            if numbered
            else ""
        )
        self.note.setVisible(bool(numbered))

        blocker = ""
        if syntax:
            blocker = "Fix the placeholders to save."
        elif over:
            blocker = f"Too long to save: {length:,} characters, the limit is {limit:,}."
        elif not body.strip():
            blocker = "Write the message to save it."
        elif not self.name.text().strip():
            blocker = "Give the message a name to save it."
        self.blocker.setText(blocker)
        self.save_button.setEnabled(not blocker)

    def _fit_preview(self) -> None:
        """As tall as the message, up to a few lines; longer ones scroll."""
        width = max(200, self.preview_box.viewport().width() or self.width() - 24)
        self.preview_box.setFixedHeight(min(PREVIEW_MAX_HEIGHT, self.preview.heightForWidth(width)))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_preview()

    def _update_chips(self, fmt: PlaceholderFormat | None, numbered: list[str]) -> None:
        """One kind of placeholder per message: chips of the other kind are switched off."""
        named_ok = fmt is not PlaceholderFormat.POSITIONAL
        numbers_ok = fmt is not PlaceholderFormat.NAMED
        for chip in self.chips.values():
            chip.setEnabled(named_ok)
        next_number = max((int(n) for n in numbered), default=0) + 1
        self.number_chip.setText(f"{{{{{next_number}}}}}")
        self.number_chip.setEnabled(numbers_ok)

    # --- saving --------------------------------------------------------------------------

    def show_error(self, error: BaseException) -> None:
        if not isinstance(error, WaappError):
            raise error
        self.error.setText(f"{error.message} {error.what_to_do}".strip())
        self.error.show()
        self.save_button.setEnabled(True)

    def save(self) -> None:
        if not self.save_button.isEnabled():
            return
        self.error.hide()
        self.save_button.setEnabled(False)
        draft = self.current_kind() is TemplateKind.APPROVED
        template_id = self._template.id if self._template is not None else None
        Op(
            self,
            lambda: self._service.save_freeform(
                template_id=template_id,
                name=self.name.text(),
                body=self.body.toPlainText(),
                account_id=self.account.currentData(),
                kind=self.current_kind(),
                language=self.language.text() if draft else "",
                category=self.category.currentData() if draft else "",
            ),
        ).success(self._saved).failure(self.show_error).run()

    def _saved(self, template: Template) -> None:
        self.saved = template
        self.accept()
