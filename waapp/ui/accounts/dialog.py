"""Add or edit one provider account.

A new account starts with the choice of provider; the form is then built from the kind's
``SETTINGS_FIELDS`` and ``SECRET_FIELDS``: labels, help as grey hints and tooltips,
required marks, defaults as placeholders, drop-downs for fields with choices, and the
"change only for testing" fields folded under *Advanced*. Secret fields never show a
stored value: "•••• saved in the keyring" says one exists, leaving the field empty keeps
it, typing replaces it and *Clear* removes it. Errors show inline and the dialog stays
open, so nothing typed is lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keyring.errors
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from waapp.core.entities import Account, AccountKind
from waapp.core.errors import WaappError
from waapp.providers import SECRET_FIELDS, SETTINGS_FIELDS, FieldSpec
from waapp.services.accounts import IN_PROCESS, AccountService, is_in_process, kind_label
from waapp.ui import ops
from waapp.ui.accounts.words import CHOOSER, CHOOSER_ORDER, DIALECT_NAMES, IN_PROCESS_ABOUT
from waapp.ui.ops import Op
from waapp.ui.theme import status_color
from waapp.ui.wizard_bar import error_label

SAVED_PLACEHOLDER = "•••• saved in the keyring"
CLEARED_PLACEHOLDER = "will be removed when you save"

#: Fields that only matter for testing or special set-ups: folded under "Advanced".
ADVANCED = frozenset({"base_url", "content_base_url", "graph_version", "status_callback"})

#: For a Sandbox account: the fields each imitated provider uses (the rest are hidden).
SANDBOX_DIALECT_FIELDS: dict[str, frozenset[str]] = {
    "twilio": frozenset(
        {
            "account_sid",
            "sender",
            "messaging_service_sid",
            "status_callback",
            "content_base_url",
            "auth_token",
        }
    ),
    "meta": frozenset(
        {
            "phone_number_id",
            "waba_id",
            "graph_version",
            "access_token",
            "app_secret",
            "verify_token",
        }
    ),
    "wasender": frozenset({"api_key", "webhook_secret"}),
}
_SANDBOX_COMMON = frozenset({"dialect", "base_url"})

#: Examples shown in empty fields that have no default.
EXAMPLES: dict[str, str] = {
    "account_sid": "AC…",
    "sender": "e.g. +14155238886",
    "messaging_service_sid": "MG…",
    "phone_number_id": "e.g. 106540352242922",
    "waba_id": "e.g. 102290129340398",
    "base_url": "e.g. http://127.0.0.1:8377",
    "status_callback": "https://…",
}


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


class SecretField(QWidget):
    """A password field that knows whether a value is stored, and a Clear button."""

    def __init__(self, spec: FieldSpec, *, stored: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.stored = stored
        self.cleared = False
        self.edit = QLineEdit()
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setToolTip(spec.help)
        self.clear_btn = QToolButton()
        self.clear_btn.setText("Clear")
        self.clear_btn.setToolTip(f"Remove the saved {spec.label} from the keyring when you save")
        self.clear_btn.clicked.connect(self.toggle_clear)
        self.clear_btn.setVisible(stored)
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.edit, 1)
        line.addWidget(self.clear_btn)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(row)
        layout.addWidget(_hint(spec.help))
        self._placeholder()

    def _placeholder(self) -> None:
        if self.cleared:
            self.edit.setPlaceholderText(CLEARED_PLACEHOLDER)
        elif self.stored:
            self.edit.setPlaceholderText(SAVED_PLACEHOLDER)
        else:
            self.edit.setPlaceholderText("")

    def toggle_clear(self) -> None:
        self.cleared = not self.cleared
        if self.cleared:
            self.edit.clear()
        self.clear_btn.setText("Undo" if self.cleared else "Clear")
        self._placeholder()

    def value(self) -> str | None:
        """What to save: the typed value, "" to keep the stored one, None to remove it."""
        typed = self.edit.text().strip()
        if typed:
            return typed
        return None if self.cleared else ""

    def has_value(self) -> bool:
        return bool(self.edit.text().strip()) or (self.stored and not self.cleared)


class AccountDialog(QDialog):
    """``account`` None: a new account (``kind`` None: ask which provider first).

    ``secret_status`` says which secrets the edited account has stored (never values).
    After a successful save :attr:`saved` holds the stored account.
    """

    def __init__(
        self,
        service: AccountService,
        *,
        account: Account | None = None,
        kind: AccountKind | None = None,
        secret_status: Mapping[str, bool] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._service = service
        self._account = account
        self._secret_status = dict(secret_status or {})
        self.saved: Account | None = None
        self.kind: AccountKind | None = account.kind if account else kind
        self._chosen_here = self.kind is None  # the chooser was shown: Back returns to it
        self.setMinimumWidth(620)

        self.pages = QStackedWidget()
        self.pages.addWidget(self._chooser())
        self.form_page = QWidget()
        self.pages.addWidget(self.form_page)

        self.error = error_label()

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_btn = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.next_btn = QPushButton("Next")
        self.next_btn.setDefault(True)
        self.next_btn.clicked.connect(self.next)
        self.back_btn = QPushButton("Back")
        self.back_btn.clicked.connect(self.back)
        self.buttons.addButton(self.back_btn, QDialogButtonBox.ButtonRole.ResetRole)
        self.buttons.addButton(self.next_btn, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

        self.name: QLineEdit = QLineEdit()
        self.setting_inputs: dict[str, QLineEdit | QComboBox] = {}
        self.secret_inputs: dict[str, SecretField] = {}
        self._rows: dict[str, tuple[QFormLayout, QWidget]] = {}
        if self.kind is None:
            self._show_chooser()
        else:
            self._show_form(self.kind)

    # --- page 1: which provider ------------------------------------------------------------

    def _chooser(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        heading = QLabel("Which provider sends your WhatsApp messages?")
        heading.setStyleSheet("font-size: 15px; font-weight: 600;")
        layout.addWidget(heading)
        self.kind_group = QButtonGroup(page)
        self.kind_buttons: dict[AccountKind, QRadioButton] = {}
        for kind in CHOOSER_ORDER:
            button = QRadioButton(kind_label(kind))
            button.setStyleSheet("font-weight: 600;")
            self.kind_group.addButton(button)
            self.kind_buttons[kind] = button
            layout.addSpacing(6)
            layout.addWidget(button)
            hint = _hint(CHOOSER[kind])
            hint.setContentsMargins(24, 0, 0, 0)
            layout.addWidget(hint)
            button.toggled.connect(lambda _on: self.next_btn.setEnabled(True))
        layout.addStretch(1)
        return page

    def _show_chooser(self) -> None:
        self.setWindowTitle("Add account")
        self.pages.setCurrentIndex(0)
        self.save_btn.hide()
        self.back_btn.hide()
        self.next_btn.show()
        self.next_btn.setEnabled(self.kind_group.checkedButton() is not None)
        self.error.hide()

    def choose(self, kind: AccountKind) -> None:
        """Pick the provider and show its form (what the chooser's Next does)."""
        self.kind_buttons[kind].setChecked(True)
        self.next()

    def next(self) -> None:
        chosen = next((k for k, b in self.kind_buttons.items() if b.isChecked()), None)
        if chosen is not None:
            self.kind = chosen
            self._show_form(chosen)

    def back(self) -> None:
        self._show_chooser()

    # --- page 2: the form ------------------------------------------------------------------

    def _show_form(self, kind: AccountKind) -> None:
        account = self._account
        new = account is None
        if account is None:
            self.setWindowTitle(f"Add a {kind_label(kind)} account")
        else:
            self.setWindowTitle(f"Edit “{account.name}”")
        old = self.form_page
        self.form_page = self._form(kind)
        self.pages.insertWidget(1, self.form_page)
        self.pages.removeWidget(old)
        old.deleteLater()
        self.pages.setCurrentWidget(self.form_page)
        self.next_btn.hide()
        self.back_btn.setVisible(new and self._chosen_here)
        self.save_btn.show()
        self.save_btn.setDefault(True)
        self.error.hide()
        self.name.setFocus()
        QTimer.singleShot(0, self._fit_height)

    def _form(self, kind: AccountKind) -> QWidget:
        """One form for everything, so that every label lines up: the name, the settings,
        the keys, then the advanced settings behind a toggle."""
        account = self._account
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        self.setting_inputs, self.secret_inputs, self._rows = {}, {}, {}
        self._advanced_rows: list[QWidget] = []

        heading = QLabel(kind_label(kind))
        heading.setStyleSheet("font-size: 15px; font-weight: 600;")
        layout.addWidget(heading)
        in_process = account is not None and is_in_process(account)
        intro = _hint(IN_PROCESS_ABOUT if in_process else CHOOSER[kind])
        layout.addWidget(intro)
        layout.addSpacing(6)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        layout.addLayout(form)
        self.name = QLineEdit(account.name if account else "")
        self.name.setPlaceholderText("e.g. Shop WhatsApp")
        form.addRow("Name *", self._with_hint(self.name, "How this account is called in waapp."))

        if in_process:
            note = _hint("Its address and keys are managed by waapp; only the name can change.")
            form.addRow("", note)
            layout.addStretch(1)
            return page

        settings = account.settings if account else {}
        advanced: list[FieldSpec] = []
        for spec in SETTINGS_FIELDS[kind]:
            if spec.name in ADVANCED and not spec.required:
                advanced.append(spec)
                continue
            self._add_setting_row(form, spec, settings.get(spec.name))

        where = (
            "kept in your system's keyring, never in waapp's data"
            if self._service.secret_store.warning is None
            else "kept in a plain file in waapp's data folder: this computer has no keyring"
        )
        keys = QLabel(f"Keys — {where}")
        keys.setStyleSheet("font-weight: 600; margin-top: 10px;")
        form.addRow(keys)
        for spec in SECRET_FIELDS[kind]:
            field = SecretField(spec, stored=self._secret_status.get(spec.name, False))
            self.secret_inputs[spec.name] = field
            form.addRow(self._label(spec), field)
            self._rows[spec.name] = (form, field)

        self.advanced_toggle = QToolButton()
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setAutoRaise(True)
        self.advanced_toggle.setStyleSheet("margin-top: 6px;")
        form.addRow(self.advanced_toggle)
        for spec in advanced:
            self._advanced_rows.append(self._add_setting_row(form, spec, settings.get(spec.name)))
        changed = any(settings.get(spec.name) not in (None, "") for spec in advanced)
        self.advanced_toggle.setVisible(bool(advanced))
        self.advanced_toggle.toggled.connect(self._show_advanced)
        self.advanced_toggle.setChecked(changed)
        self._show_advanced(changed)

        required = _hint("* required")
        layout.addSpacing(4)
        layout.addWidget(required)
        layout.addStretch(1)

        dialect = self.setting_inputs.get("dialect")
        if kind is AccountKind.SANDBOX and isinstance(dialect, QComboBox):
            dialect.currentIndexChanged.connect(lambda _i: self._show_dialect_fields())
            self._show_dialect_fields()
        return page

    def _add_setting_row(self, form: QFormLayout, spec: FieldSpec, current: Any) -> QWidget:
        widget = self._setting_input(spec, current)
        container = self._with_hint(widget, spec.help)
        form.addRow(self._label(spec), container)
        self._rows[spec.name] = (form, container)
        return container

    def _visible(self, name: str) -> bool:
        """Whether a field's row belongs on screen (advanced shown, Sandbox dialect)."""
        container = self._rows[name][1]
        if container in self._advanced_rows and not self.advanced_toggle.isChecked():
            return False
        combo = self.setting_inputs.get("dialect")
        if self.kind is AccountKind.SANDBOX and isinstance(combo, QComboBox):
            used = SANDBOX_DIALECT_FIELDS.get(str(combo.currentData()), frozenset())
            return name in _SANDBOX_COMMON or name in used
        return True

    def _relayout(self) -> None:
        for name, (form, container) in self._rows.items():
            form.setRowVisible(container, self._visible(name))
        QTimer.singleShot(0, self._fit_height)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self._fit_height)  # once the width is final

    def _fit_height(self) -> None:
        """Grow or shrink to the form at the current width. ``adjustSize`` would size the
        wrapped hints for the wrong width and clip them."""
        layout = self.layout()
        if layout is None:
            return
        layout.activate()
        height = layout.totalHeightForWidth(self.width())
        if height > 0:
            self.resize(self.width(), height)

    def _show_advanced(self, shown: bool) -> None:
        self.advanced_toggle.setText(
            "Hide advanced settings" if shown else "Advanced settings (for testing)"
        )
        self.advanced_toggle.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        )
        self._relayout()

    def _show_dialect_fields(self) -> None:
        self._relayout()

    @staticmethod
    def _label(spec: FieldSpec) -> str:
        return f"{spec.label} *" if spec.required else spec.label

    @staticmethod
    def _with_hint(widget: QWidget, help_text: str) -> QWidget:
        widget.setToolTip(help_text)
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(widget)
        layout.addWidget(_hint(help_text))
        return box

    def _setting_input(self, spec: FieldSpec, current: Any) -> QLineEdit | QComboBox:
        value = "" if current is None else str(current)
        widget: QLineEdit | QComboBox
        if spec.choices:
            widget = QComboBox()
            for choice in spec.choices:
                shown = DIALECT_NAMES.get(choice, choice) if spec.name == "dialect" else choice
                widget.addItem(shown, choice)
            index = widget.findData(value or spec.default)
            widget.setCurrentIndex(max(index, 0))
        else:
            widget = QLineEdit(value)
            if spec.default:
                widget.setPlaceholderText(f"{spec.default}  (default)")
            elif spec.name in EXAMPLES:
                widget.setPlaceholderText(EXAMPLES[spec.name])
        self.setting_inputs[spec.name] = widget
        return widget

    # --- values and saving -------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, widget in self.setting_inputs.items():
            if isinstance(widget, QComboBox):
                values[name] = str(widget.currentData())
            else:
                values[name] = widget.text().strip()
        if self._account is not None and is_in_process(self._account):
            values = {k: v for k, v in self._account.settings.items() if k != IN_PROCESS}
        return values

    def secrets(self) -> dict[str, str | None]:
        """For an edit: per secret, the typed value, "" (keep) or None (remove)."""
        return {name: field.value() for name, field in self.secret_inputs.items()}

    def typed_secrets(self) -> dict[str, str]:
        """For a new account: only what was typed."""
        return {name: value for name, value in self.secrets().items() if value}

    def _mark_missing(self) -> None:
        """Outline the required fields left empty (the message comes from the service)."""
        bad = f"border: 1px solid {status_color('bad').name()}; border-radius: 3px;"
        for spec in SETTINGS_FIELDS[self.kind] if self.kind else ():
            widget = self.setting_inputs.get(spec.name)
            if isinstance(widget, QLineEdit):
                empty = spec.required and not widget.text().strip() and not spec.default
                widget.setStyleSheet(bad if empty else "")
        for spec in SECRET_FIELDS[self.kind] if self.kind else ():
            field = self.secret_inputs.get(spec.name)
            if field is not None:
                empty = spec.required and not field.has_value()
                field.edit.setStyleSheet(bad if empty else "")
        self.name.setStyleSheet(bad if not self.name.text().strip() else "")

    def show_error(self, error: BaseException) -> None:
        """Inline: what is wrong and what to do; the dialog stays open with what was typed."""
        self._busy(False)
        if isinstance(error, WaappError):
            text = f"{error.message} {error.what_to_do}".strip()
        elif isinstance(error, keyring.errors.KeyringError):
            text = (
                "Your system keyring refused to keep the keys, so nothing was saved. It may "
                "be locked: unlock it (or log in again) and save again."
            )
        else:
            ops.show_error(self, error, title="The account was not saved")
            return
        self.error.setText(text)
        self.error.show()

    def _busy(self, busy: bool) -> None:
        self.buttons.setEnabled(not busy)

    def save(self) -> None:
        if self.kind is None:
            return
        self.error.hide()
        self._mark_missing()
        self._busy(True)
        Op(self, self._save).success(self._saved).failure(self.show_error).run()

    async def _save(self) -> Account:
        assert self.kind is not None
        if self._account is None:
            return await self._service.add(
                kind=self.kind,
                name=self.name.text(),
                settings=self.settings(),
                secrets=self.typed_secrets(),
            )
        assert self._account.id is not None
        return await self._service.update(
            self._account.id,
            name=self.name.text(),
            settings=self.settings(),
            secrets=self.secrets(),
        )

    def _saved(self, account: Account) -> None:
        self.saved = account
        self._busy(False)
        self.accept()
