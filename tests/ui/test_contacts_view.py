"""The Contacts screen driven through its widgets, on a real store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox
from pytestqt.qtbot import QtBot

from waapp.app import Services
from waapp.core.ports import ContactQuery
from waapp.ui.bridge import Bridge
from waapp.ui.contacts.dialog import ContactDialog
from waapp.ui.contacts.model import ContactsModel
from waapp.ui.contacts.view import ContactsView


@pytest.fixture
def view(services: Services, qtbot: QtBot, run: Any) -> Iterator[ContactsView]:
    bridge = Bridge(services.bus, interval_ms=10)
    widget = ContactsView(services.contacts, bridge)
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    run(widget.load())
    yield widget
    widget.shutdown()
    bridge.close()


def add(services: Services, run: Any, name: str, phone: str, **fields: str) -> int:
    contact = run(services.contacts.add_contact(name=name, phone=phone, fields=fields, region="IN"))
    return int(contact.id)


def rows(view: ContactsView) -> list[str]:
    model = view.model
    return [model.data(model.index(r, 0)) for r in range(model.rowCount())]


def wait_rows(qtbot: QtBot, view: ContactsView, expected: list[str]) -> None:
    qtbot.waitUntil(lambda: rows(view) == expected, timeout=5000)


def select(view: ContactsView, *names: str) -> None:
    selection = view.table.selectionModel()
    selection.clearSelection()
    for r, name in enumerate(rows(view)):
        if name in names:
            selection.select(
                view.model.index(r, 0),
                QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
            )


def open_dialog(qtbot: QtBot, view: ContactsView) -> ContactDialog:
    qtbot.waitUntil(
        lambda: getattr(view, "dialog", None) is not None and view.dialog.isVisible(), timeout=5000
    )
    return view.dialog


def test_model_passes_qt_model_tester(services: Services, run: Any, qtmodeltester: Any) -> None:
    for i in range(30):
        add(services, run, f"Person {i:02d}", f"98765432{i:02d}", city="Pune" if i % 2 else "Goa")
    model = ContactsModel(services.contacts)
    run(model.refresh(ContactQuery()))
    qtmodeltester.check(model)
    assert model.rowCount() == 30
    assert model.columnCount() == 6  # five built-in columns + the custom field "city"
    assert model.headerData(5, Qt.Orientation.Horizontal) == "city"


def test_empty_store_says_what_to_do(view: ContactsView) -> None:
    assert view.table_stack.currentWidget() is view.empty
    assert "Add contact" in view.empty.text()


def test_add_contact_through_the_dialog(
    view: ContactsView, services: Services, qtbot: QtBot, run: Any
) -> None:
    view.add_btn.click()
    dialog = open_dialog(qtbot, view)
    dialog.name.setText("Maria Gomez")
    dialog.country.setCurrentIndex(dialog.country.findData("IN"))
    dialog.phone.setText("070330 09600")
    assert "+91 70330 09600" in dialog.phone_check.text()
    dialog._add_field_row("city", "Pune")
    dialog.buttons.button(dialog.buttons.StandardButton.Save).click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
    wait_rows(qtbot, view, ["Maria Gomez"])
    stored = run(services.contacts.get_many(run(services.contacts.ids(ContactQuery()))))
    assert [(c.name, c.phone_e164, c.fields) for c in stored] == [
        ("Maria Gomez", "+917033009600", {"city": "Pune"})
    ]
    assert view.table.selectionModel().selectedRows()[0].row() == 0  # the new contact is selected


def test_invalid_number_keeps_the_dialog_open_with_the_reason(
    view: ContactsView, services: Services, qtbot: QtBot, run: Any
) -> None:
    view.add_contact()
    dialog = open_dialog(qtbot, view)
    dialog.country.setCurrentIndex(0)  # no default country
    dialog.name.setText("Nobody")
    dialog.phone.setText("7033009600")
    assert dialog.phone_check.text().startswith("✗")
    dialog.save()
    qtbot.waitUntil(lambda: not dialog.error.isHidden(), timeout=5000)
    assert "not a usable WhatsApp number" in dialog.error.text()
    assert dialog.isVisible() and dialog.name.text() == "Nobody"  # nothing typed is lost
    assert run(services.contacts.count(ContactQuery())) == 0


def test_duplicate_number_names_the_existing_contact(
    view: ContactsView, services: Services, qtbot: QtBot, run: Any
) -> None:
    add(services, run, "Asha", "7033009600")
    view.add_contact()
    dialog = open_dialog(qtbot, view)
    dialog.name.setText("Someone else")
    dialog.phone.setText("+91 70330-09600")
    dialog.save()
    qtbot.waitUntil(lambda: not dialog.error.isHidden(), timeout=5000)
    assert "already belongs to Asha" in dialog.error.text()
    assert run(services.contacts.count(ContactQuery())) == 1


def test_edit_contact_and_opt_out_in_the_dialog(
    view: ContactsView, services: Services, qtbot: QtBot, run: Any
) -> None:
    contact_id = add(services, run, "Ravi", "9876543210", city="Goa")
    wait_rows(qtbot, view, ["Ravi"])
    select(view, "Ravi")
    view.edit_btn.click()
    dialog = open_dialog(qtbot, view)
    assert dialog.field_values() == {"city": "Goa"}
    dialog.name.setText("Ravi Kumar")
    dialog.opted_out.setChecked(True)
    dialog.opt_reason.setText("asked by phone")
    dialog.save()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
    wait_rows(qtbot, view, ["Ravi Kumar"])
    saved = run(services.contacts.get(contact_id))
    assert (
        saved.name == "Ravi Kumar" and saved.opted_out and saved.opt_out_reason == "asked by phone"
    )
    assert view.model.data(view.model.index(0, 2)) == "Opted out"


def test_search_and_sort_happen_in_the_store(
    view: ContactsView, services: Services, qtbot: QtBot, run: Any
) -> None:
    add(services, run, "Beatriz", "9876500001", city="Lisbon")
    add(services, run, "Ana", "9876500003")
    add(services, run, "Carla", "9876500002")
    wait_rows(qtbot, view, ["Ana", "Beatriz", "Carla"])
    view.search.setText("lisb")
    wait_rows(qtbot, view, ["Beatriz"])
    view.search.clear()
    wait_rows(qtbot, view, ["Ana", "Beatriz", "Carla"])
    view.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)  # by phone, descending
    wait_rows(qtbot, view, ["Ana", "Carla", "Beatriz"])
    view.search.setText("nobody-has-this")
    qtbot.waitUntil(lambda: view.table_stack.currentWidget() is view.empty, timeout=5000)
    assert "No contact matches" in view.empty.text()


def test_groups_create_add_filter_remove_rename_delete(
    view: ContactsView, services: Services, qtbot: QtBot, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, phone in [("Ana", "9876500001"), ("Bo", "9876500002"), ("Cy", "9876500003")]:
        add(services, run, name, phone)
    wait_rows(qtbot, view, ["Ana", "Bo", "Cy"])
    select(view, "Ana", "Cy")
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("VIP", True))
    view.new_group(add_selection=True)
    qtbot.waitUntil(lambda: view.group_list.count() == 2, timeout=5000)
    qtbot.waitUntil(lambda: view.group_list.item(1).text() == "VIP  (2)", timeout=5000)

    view.group_list.setCurrentRow(1)  # filter by the group
    wait_rows(qtbot, view, ["Ana", "Cy"])
    select(view, "Cy")
    view.remove_btn.click()
    wait_rows(qtbot, view, ["Ana"])

    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Best customers", True))
    view.rename_group_btn.click()
    qtbot.waitUntil(lambda: view.group_list.item(1).text() == "Best customers  (1)", timeout=5000)

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    view.delete_group_btn.click()
    qtbot.waitUntil(lambda: view.group_list.count() == 1, timeout=5000)
    wait_rows(qtbot, view, ["Ana", "Bo", "Cy"])  # back on "All contacts"; nobody was deleted


def test_duplicate_group_name_is_refused_with_a_dialog(
    view: ContactsView, services: Services, qtbot: QtBot, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(services.contacts.create_group("VIP"))
    shown: list[Any] = []
    monkeypatch.setattr("waapp.ui.ops.show_error", lambda parent, error, **k: shown.append(error))
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("vip", True))
    view.new_group()
    qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    assert type(shown[0]).__name__ == "DuplicateName"


def test_multi_select_opt_out_opt_in_and_delete(
    view: ContactsView, services: Services, qtbot: QtBot, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, phone in [("Ana", "9876500001"), ("Bo", "9876500002"), ("Cy", "9876500003")]:
        add(services, run, name, phone)
    wait_rows(qtbot, view, ["Ana", "Bo", "Cy"])
    select(view, "Ana", "Bo")
    # the total comes with its own refresh, which may land after the rows
    qtbot.waitUntil(lambda: view.summary.text() == "3 of 3 contacts · 2 selected", timeout=5000)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Replied STOP", True))
    view.opt_out_btn.click()
    qtbot.waitUntil(
        lambda: (
            [view.model.data(view.model.index(r, 2)) for r in range(3)]
            == ["Opted out", "Opted out", "Subscribed"]
        ),
        timeout=5000,
    )
    view.opt_filter.setCurrentIndex(2)  # opted out only
    wait_rows(qtbot, view, ["Ana", "Bo"])
    select(view, "Bo")
    view.opt_in_btn.click()
    wait_rows(qtbot, view, ["Ana"])
    view.opt_filter.setCurrentIndex(0)
    wait_rows(qtbot, view, ["Ana", "Bo", "Cy"])

    select(view, "Ana", "Cy")
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    view.table.setFocus()
    view.delete_btn.click()
    wait_rows(qtbot, view, ["Bo"])
    assert run(services.contacts.count(ContactQuery())) == 1


def test_keyboard_shortcut_ctrl_n_opens_the_add_dialog(view: ContactsView, qtbot: QtBot) -> None:
    view.activateWindow()
    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    dialog = open_dialog(qtbot, view)
    assert dialog.windowTitle() == "Add contact"
    dialog.reject()
