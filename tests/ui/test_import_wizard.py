"""The import wizard and the export actions, driven through their widgets on a real store."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from waapp.app import Services
from waapp.core.ports import ContactQuery
from waapp.paths import DataPaths
from waapp.ui.bridge import Bridge
from waapp.ui.contacts.import_wizard import FIELD, NAME, PHONE, ImportWizard
from waapp.ui.contacts.view import ContactsView
from waapp.ui.main_window import MainWindow


@pytest.fixture
def view(services: Services, qtbot: QtBot, run: Any) -> Iterator[ContactsView]:
    bridge = Bridge(services.bus, interval_ms=10)
    widget = ContactsView(
        services.contacts, bridge, importer=services.importer, exporter=services.exporter
    )
    qtbot.addWidget(widget)
    widget.show()
    run(widget.load())
    yield widget
    widget.shutdown()
    bridge.close()


def write_xlsx(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Customer list — November"])  # a title row above the header
    sheet.append([])
    sheet.append(["Nombre", "Celular", "Ciudad"])
    sheet.append(["Maria Gomez", 7033009600, "Pune"])
    sheet.append(["Ravi", "+91 98765 43210", "Goa"])
    sheet.append(["Twice", "070330 09600", "Pune"])  # the same number again
    sheet.append(["Lost digits", "9.17033E+11", ""])
    book.save(path)
    return path


def open_wizard(qtbot: QtBot, view: ContactsView, path: Path | None) -> ImportWizard:
    view.import_file(path)
    qtbot.waitUntil(
        lambda: getattr(view, "wizard", None) is not None and view.wizard.isVisible(), timeout=5000
    )
    return view.wizard


def step(qtbot: QtBot, wizard: ImportWizard, index: int) -> None:
    qtbot.waitUntil(
        lambda: wizard.pages.currentIndex() == index and wizard.next_btn.isEnabled(), timeout=10_000
    )


def test_import_an_excel_file_end_to_end(
    view: ContactsView, services: Services, qtbot: QtBot, run: Any, tmp_path: Path
) -> None:
    wizard = open_wizard(qtbot, view, write_xlsx(tmp_path / "clientes.xlsx"))
    step(qtbot, wizard, 1)
    assert wizard.header_row.value() == 3  # found below the title row
    wizard.next_btn.click()
    step(qtbot, wizard, 2)
    assert [c.currentData() for c in wizard.roles] == [
        NAME,
        PHONE,
        FIELD,
    ]  # guessed from Spanish titles
    wizard.next_btn.click()
    step(qtbot, wizard, 3)
    wizard.country.setCurrentIndex(wizard.country.findData("IN"))
    wizard.group.setCurrentIndex(wizard.group.findData("new"))
    wizard.new_group.setText("November list")
    wizard.next_btn.click()
    step(qtbot, wizard, 4)
    assert "2 new" in wizard.preview_totals.text()
    assert "1 duplicate in the file" in wizard.preview_totals.text()
    assert "1 cannot be used" in wizard.preview_totals.text()
    assert wizard.next_btn.text() == "Import 2 contacts"
    assert run(services.contacts.count(ContactQuery())) == 0  # the preview wrote nothing
    wizard.next_btn.click()
    qtbot.waitUntil(
        lambda: wizard.next_btn.text() == "Close" and wizard.next_btn.isEnabled(), timeout=10_000
    )
    assert "November list" in wizard.progress_label.text()
    reasons = [wizard.report_rows.item(r, 5).text() for r in range(wizard.report_rows.rowCount())]
    assert any(reason.startswith("digits lost by the spreadsheet") for reason in reasons)
    contacts = run(services.contacts.get_many(run(services.contacts.ids(ContactQuery()))))
    assert sorted((c.name, c.phone_e164, c.fields.get("Ciudad")) for c in contacts) == [
        ("Maria Gomez", "+917033009600", "Pune"),
        ("Ravi", "+919876543210", "Goa"),
    ]
    assert {g.name: g.member_count for g in run(services.contacts.groups())} == {"November list": 2}
    wizard.next_btn.click()
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=5000)


def test_a_file_that_is_not_a_spreadsheet_gets_a_clear_message(
    view: ContactsView, qtbot: QtBot, tmp_path: Path
) -> None:
    garbage = tmp_path / "contacts.xlsx"
    garbage.write_bytes(b"\x00\x01 this is not a workbook \xff" * 50)
    wizard = open_wizard(qtbot, view, garbage)
    qtbot.waitUntil(lambda: not wizard.error.isHidden(), timeout=10_000)
    assert wizard.pages.currentIndex() == 0
    assert "spreadsheet" in wizard.error.text().lower()
    wizard.reject()


def test_a_csv_without_a_phone_column_must_be_mapped_first(
    view: ContactsView, qtbot: QtBot, tmp_path: Path
) -> None:
    path = tmp_path / "list.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["who", "notes"], ["Ana", "VIP"], ["Bo", ""]])
    wizard = open_wizard(qtbot, view, path)
    step(qtbot, wizard, 1)
    wizard.next_btn.click()
    step(qtbot, wizard, 2)
    for combo in wizard.roles:
        combo.setCurrentIndex(combo.findData("ignore"))
    wizard.next_btn.click()
    qtbot.waitUntil(lambda: not wizard.error.isHidden(), timeout=5000)
    assert wizard.pages.currentIndex() == 2 and "phone column" in wizard.error.text()
    wizard.reject()


def test_dropping_a_spreadsheet_on_the_window_opens_the_wizard(
    services: Services, qtbot: QtBot, run: Any, tmp_path: Path
) -> None:
    window = MainWindow(DataPaths(tmp_path))
    qtbot.addWidget(window)
    bridge = Bridge(services.bus, interval_ms=10)
    contacts = ContactsView(
        services.contacts, bridge, importer=services.importer, exporter=services.exporter
    )
    window.attach({"contacts": contacts})
    window.show_screen("templates")
    path = write_xlsx(tmp_path / "dropped.xlsx")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    drop = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(drop)
    qtbot.waitUntil(lambda: getattr(contacts, "wizard", None) is not None, timeout=5000)
    assert window.sidebar.currentItem().text() == "Contacts"
    step(qtbot, contacts.wizard, 1)
    contacts.wizard.reject()
    bridge.close()


def test_export_all_contacts_to_xlsx(
    view: ContactsView,
    services: Services,
    qtbot: QtBot,
    run: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run(services.contacts.add_contact(name='=HYPERLINK("x")', phone="+917033009600"))
    target = tmp_path / "out.xlsx"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "xlsx"))
    view.export_all_action.trigger()
    qtbot.waitUntil(target.exists, timeout=10_000)
    qtbot.waitUntil(
        lambda: (
            "Exported 1 contacts" in view.window().statusBar().currentMessage()
            if hasattr(view.window(), "statusBar")
            else True
        ),
        timeout=5000,
    )
    sheet = openpyxl.load_workbook(target).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("Name", "Phone")
    assert rows[1][0].startswith("'=")  # formula neutralised
