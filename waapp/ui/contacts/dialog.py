"""Add or edit one contact: name, number (normalised live with the chosen country), custom
fields, groups and the opt-out flag. Errors (invalid number, duplicate) show inline and the
dialog stays open, so nothing typed is lost."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import phonenumbers
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from waapp.core.entities import Contact, Group
from waapp.core.errors import ValidationError, WaappError
from waapp.core.phones import display_phone, normalize_phone, region_name
from waapp.services.contacts import ContactService
from waapp.ui.ops import Op
from waapp.ui.theme import status_color
from waapp.ui.wizard_bar import error_label


@functools.cache
def country_choices() -> list[tuple[str, str]]:
    """(label, region) for every region phonenumbers knows, sorted by name."""
    return sorted(
        (f"{region_name(region)} (+{phonenumbers.country_code_for_region(region)})", region)
        for region in phonenumbers.SUPPORTED_REGIONS
    )


def fill_countries(combo: QComboBox, selected: str | None) -> None:
    combo.addItem("No default country — numbers must start with +", None)
    for label, region in country_choices():
        combo.addItem(label, region)
    if selected:
        combo.setCurrentIndex(max(0, combo.findData(selected)))


class ContactDialog(QDialog):
    def __init__(
        self,
        service: ContactService,
        *,
        groups: Sequence[Group],
        default_region: str | None,
        contact: Contact | None = None,
        member_of: Sequence[int] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._service = service
        self._contact = contact
        self.saved: Contact | None = None
        self.setWindowTitle("Edit contact" if contact else "Add contact")
        self.setMinimumWidth(520)

        self.name = QLineEdit(contact.name if contact else "")
        self.name.setPlaceholderText("e.g. Maria Gomez")
        self.phone = QLineEdit(display_phone(contact.phone_e164) if contact else "")
        self.phone.setPlaceholderText("e.g. +91 70330 09600 or 07033009600")
        self.country = QComboBox()
        own_region = (
            phonenumbers.region_code_for_number(phonenumbers.parse(contact.phone_e164))
            if contact
            else None
        )
        fill_countries(self.country, own_region or default_region)
        self.phone_check = QLabel()
        self.phone_check.setObjectName("hint")

        self.fields = QTableWidget(0, 2)
        self.fields.setHorizontalHeaderLabels(["Field", "Value"])
        self.fields.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.fields.verticalHeader().hide()
        self.fields.setMinimumHeight(110)
        for key, value in (contact.fields if contact else {}).items():
            self._add_field_row(key, value)
        add_field = QPushButton("Add field")
        add_field.clicked.connect(lambda: self._add_field_row("", "", edit=True))
        remove_field = QPushButton("Remove field")
        remove_field.clicked.connect(lambda: self.fields.removeRow(self.fields.currentRow()))
        field_buttons = QHBoxLayout()
        field_buttons.addWidget(add_field)
        field_buttons.addWidget(remove_field)
        field_buttons.addStretch()

        self.groups = QListWidget()
        self.groups.setMaximumHeight(110)
        for group in groups:
            item = QListWidgetItem(group.name)
            item.setData(Qt.ItemDataRole.UserRole, group.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked if group.id in member_of else Qt.CheckState.Unchecked
            )
            self.groups.addItem(item)
        if not groups:
            self.groups.addItem(
                QListWidgetItem("No groups yet — create one in the Contacts screen.")
            )
            self.groups.setEnabled(False)

        self.opted_out = QCheckBox("Opted out: this person asked not to receive messages")
        self.opt_reason = QLineEdit(contact.opt_out_reason or "" if contact else "")
        self.opt_reason.setPlaceholderText("Why, e.g. “asked by phone”")
        self.opted_out.setChecked(bool(contact and contact.opted_out))
        self.opt_reason.setEnabled(self.opted_out.isChecked())
        self.opted_out.toggled.connect(self.opt_reason.setEnabled)

        self.error = error_label()

        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Phone", self.phone)
        form.addRow("Country", self.country)
        form.addRow("", self.phone_check)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Custom fields (usable as template variables)"))
        layout.addWidget(self.fields)
        layout.addLayout(field_buttons)
        layout.addWidget(QLabel("Groups"))
        layout.addWidget(self.groups)
        layout.addWidget(self.opted_out)
        layout.addWidget(self.opt_reason)
        layout.addWidget(self.error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self.phone.textChanged.connect(self._check_phone)
        self.country.currentIndexChanged.connect(self._check_phone)
        self._check_phone()

    def _add_field_row(self, key: str, value: str, *, edit: bool = False) -> None:
        row = self.fields.rowCount()
        self.fields.insertRow(row)
        self.fields.setItem(row, 0, QTableWidgetItem(key))
        self.fields.setItem(row, 1, QTableWidgetItem(value))
        if edit:
            self.fields.setCurrentCell(row, 0)
            self.fields.editItem(self.fields.item(row, 0))

    def _check_phone(self) -> None:
        text = self.phone.text().strip()
        if not text:
            self.phone_check.setText(
                "WhatsApp needs the number with its country code; the country above fills it in."
            )
            self.phone_check.setStyleSheet("")
            return
        result = normalize_phone(text, self.country.currentData())
        if result.e164:
            self.phone_check.setText(f"✓ Will be saved as {display_phone(result.e164)}")
            self.phone_check.setStyleSheet(f"color: {status_color('ok').name()};")
        else:
            self.phone_check.setText(f"✗ {result.reason}")
            self.phone_check.setStyleSheet(f"color: {status_color('bad').name()};")

    def field_values(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for row in range(self.fields.rowCount()):
            key_item, value_item = self.fields.item(row, 0), self.fields.item(row, 1)
            key = key_item.text() if key_item else ""
            value = value_item.text() if value_item else ""
            if key.strip() or value.strip():
                values[key] = value
        return values

    def group_ids(self) -> list[int]:
        ids = []
        for i in range(self.groups.count()):
            item = self.groups.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                ids.append(int(item.data(Qt.ItemDataRole.UserRole)))
        return ids

    def show_error(self, error: BaseException) -> None:
        if not isinstance(error, WaappError):
            raise error
        self.error.setText(f"{error.message} {error.what_to_do}".strip())
        self.error.show()
        self.buttons.setEnabled(True)

    def save(self) -> None:
        self.error.hide()
        self.buttons.setEnabled(False)
        Op(self, self._save).success(self._saved).failure(self.show_error).run()

    async def _save(self) -> Contact:
        region = self.country.currentData()
        wants_out = self.opted_out.isChecked()
        reason = self.opt_reason.text().strip()
        if wants_out and not reason:
            raise ValidationError("Say why this person opted out, for example “asked by phone”.")
        if self._contact is None:
            contact = await self._service.add_contact(
                name=self.name.text(),
                phone=self.phone.text(),
                fields=self.field_values(),
                group_ids=self.group_ids(),
                region=region,
            )
        else:
            assert self._contact.id is not None
            contact = await self._service.update_contact(
                self._contact.id,
                name=self.name.text(),
                phone=self.phone.text(),
                fields=self.field_values(),
                group_ids=self.group_ids(),
                region=region,
            )
        assert contact.id is not None
        if wants_out != contact.opted_out or (
            wants_out and reason != (contact.opt_out_reason or "")
        ):
            await self._service.set_opt_out([contact.id], opted_out=wants_out, reason=reason)
            contact = await self._service.get(contact.id)
        return contact

    def _saved(self, contact: Contact) -> None:
        self.saved = contact
        self.accept()
