"""The Templates screen and the message editor, driven through their widgets on a real
store with the in-process Sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QTextCursor
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from waapp.app import Services
from waapp.core.entities import TemplateKind
from waapp.core.errors import WaappError
from waapp.ui.bridge import Bridge
from waapp.ui.templates import view as view_module
from waapp.ui.templates.editor import TemplateEditor
from waapp.ui.templates.model import COLUMNS, TemplatesModel
from waapp.ui.templates.view import TemplatesView
from waapp.ui.theme import status_color

STATUS = COLUMNS.index("Status")
QUALITY = COLUMNS.index("Quality")
KIND = COLUMNS.index("Kind")


@pytest.fixture
def view(services: Services, qtbot: QtBot, run: Any) -> Iterator[TemplatesView]:
    run(services.start_network())
    bridge = Bridge(services.bus, interval_ms=10)
    widget = TemplatesView(services, bridge)
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    run(widget.load())
    yield widget
    if widget.editor is not None:
        widget.editor.reject()
    widget.shutdown()
    bridge.close()


def names(view: TemplatesView) -> list[str]:
    return [view.model.data(view.model.index(r, 0)) for r in range(view.model.rowCount())]


def cell(
    view: TemplatesView, name: str, column: int, role: int = Qt.ItemDataRole.DisplayRole
) -> Any:
    row = names(view).index(name)
    return view.model.data(view.model.index(row, column), role)


def wait_names(qtbot: QtBot, view: TemplatesView, expected: list[str]) -> None:
    qtbot.waitUntil(lambda: names(view) == expected, timeout=5000)


def synced(view: TemplatesView, qtbot: QtBot) -> None:
    view.sync_btn.click()
    wait_names(qtbot, view, ["hello_world", "order_update", "spring_sale", "welcome_named"])


def select(view: TemplatesView, name: str) -> None:
    view.table.selectRow(names(view).index(name))


def open_editor(qtbot: QtBot, view: TemplatesView) -> TemplateEditor:
    qtbot.waitUntil(lambda: view.editor is not None and view.editor.isVisible(), timeout=5000)
    assert view.editor is not None
    return view.editor


def test_model_passes_qt_model_tester(
    view: TemplatesView, services: Services, qtbot: QtBot, run: Any, qtmodeltester: Any
) -> None:
    synced(view, qtbot)
    model = TemplatesModel()
    model.set_rows(run(services.templates.list()), {1: "Sandbox"})
    qtmodeltester.check(model)
    model.sort(STATUS, Qt.SortOrder.DescendingOrder)
    qtmodeltester.check(model)
    assert model.rowCount() == 4


def test_empty_screen_says_what_to_do(view: TemplatesView) -> None:
    assert view.table_stack.currentWidget() is view.empty
    assert "Sync from provider" in view.empty.text() and "New message" in view.empty.text()
    assert view.summary.text() == "0 templates"


def test_sync_lists_the_templates_with_colour_coded_statuses(
    view: TemplatesView, qtbot: QtBot
) -> None:
    synced(view, qtbot)
    assert view.sync_result.text() == "Sandbox: 4 added, 0 updated, 0 removed."
    assert cell(view, "hello_world", STATUS) == "Approved"
    assert cell(view, "hello_world", KIND) == "Approved WhatsApp template"
    assert cell(view, "spring_sale", STATUS) == "Pending review"
    color = Qt.ItemDataRole.ForegroundRole
    assert QColor(cell(view, "hello_world", STATUS, color)) == status_color("ok")
    assert QColor(cell(view, "hello_world", QUALITY, color)) == status_color("ok")
    assert QColor(cell(view, "spring_sale", STATUS, color)) == status_color("warn")
    assert QColor(cell(view, "spring_sale", QUALITY, color)) == status_color("muted")
    assert "cannot be sent yet" in cell(view, "spring_sale", STATUS, Qt.ItemDataRole.ToolTipRole)

    view.sync_btn.click()  # again: nothing new
    qtbot.waitUntil(
        lambda: view.sync_result.text() == "Sandbox: 0 added, 0 updated, 0 removed.", timeout=5000
    )


def test_filters_and_search(
    view: TemplatesView, services: Services, qtbot: QtBot, run: Any
) -> None:
    synced(view, qtbot)
    run(services.templates.save_freeform(template_id=None, name="Order ready", body="Hi {{name}}"))
    wait_names(
        qtbot, view, ["hello_world", "Order ready", "order_update", "spring_sale", "welcome_named"]
    )
    view.status_filter.setCurrentIndex(view.status_filter.findText("Waiting for review"))
    wait_names(qtbot, view, ["spring_sale"])
    assert view.summary.text() == "1 of 5 templates"
    view.status_filter.setCurrentIndex(view.status_filter.findText("Approved"))
    wait_names(qtbot, view, ["hello_world", "order_update", "welcome_named"])
    view.status_filter.setCurrentIndex(0)
    view.kind_filter.setCurrentIndex(view.kind_filter.findText("Free-form messages"))
    wait_names(qtbot, view, ["Order ready"])
    view.kind_filter.setCurrentIndex(0)
    view.search.setText("ORDER")  # any case, in the name or the text (“your first order”)
    wait_names(qtbot, view, ["Order ready", "order_update", "welcome_named"])
    view.search.setText("on its way")  # the body is searched too
    wait_names(qtbot, view, ["order_update"])
    view.search.setText("nothing like this")
    qtbot.waitUntil(lambda: view.table_stack.currentWidget() is view.empty, timeout=5000)
    assert "No template matches" in view.empty.text()


def test_detail_pane_shows_the_whole_template(view: TemplatesView, qtbot: QtBot) -> None:
    synced(view, qtbot)
    select(view, "hello_world")
    detail = view.detail
    assert detail.title.text() == "hello_world"
    assert "<b>Hello World</b>" in detail.message.text()
    assert "WhatsApp Business Platform sample message" in detail.message.text()
    assert "read-only" in detail.note.text() and "provider's console" in detail.note.text()
    select(view, "order_update")
    assert detail.placeholders.text().startswith("{{1}}, {{2}}")
    select(view, "welcome_named")
    assert "Stop promotions" in detail.buttons.text()


def test_synced_templates_are_read_only(
    view: TemplatesView, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced(view, qtbot)
    select(view, "order_update")
    assert not view.edit_btn.isEnabled() and not view.delete_btn.isEnabled()
    assert "provider's console" in view.edit_btn.toolTip()
    asked: list[Any] = []
    said: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a))
    monkeypatch.setattr(view, "status", said.append)
    view.activateWindow()
    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_Return)
    qtbot.keyClick(view.table, Qt.Key.Key_Delete)
    qtbot.wait(50)
    assert view.editor is None and asked == []
    assert said == [
        "“order_update” comes from the provider: edit it in the provider's console, then use "
        "“Sync from provider”.",
        "“order_update” comes from the provider: delete it in the provider's console, then use "
        "“Sync from provider”.",
    ]


def test_new_message_with_a_chip_and_the_live_preview(
    view: TemplatesView, services: Services, qtbot: QtBot, run: Any
) -> None:
    run(
        services.contacts.add_contact(
            name="Ravi Kumar", phone="07033009600", fields={"city": "Pune"}, region="IN"
        )
    )
    view.activateWindow()
    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    editor = open_editor(qtbot, view)
    assert editor.windowTitle() == "New message"
    assert not editor.save_button.isEnabled()
    assert "same name" in editor.hint.text()
    assert set(editor.chips) == {"name", "first_name", "phone", "city"}
    editor.name.setText("Order ready")
    editor.body.setPlainText("Hi , your order is ready in .")
    cursor = editor.body.textCursor()
    cursor.setPosition(3)
    editor.body.setTextCursor(cursor)
    qtbot.mouseClick(editor.chips["first_name"], Qt.MouseButton.LeftButton)
    cursor = editor.body.textCursor()
    cursor.movePosition(QTextCursor.MoveOperation.End)
    cursor.movePosition(QTextCursor.MoveOperation.Left)
    editor.body.setTextCursor(cursor)
    qtbot.mouseClick(editor.chips["city"], Qt.MouseButton.LeftButton)
    assert editor.body.toPlainText() == "Hi {{first_name}}, your order is ready in {{city}}."
    assert editor.sample.currentText().startswith("Ravi Kumar")
    assert editor.preview.text() == "Hi Ravi, your order is ready in Pune."
    assert editor.problems.text().startswith("✓")
    assert editor.counter.text() == "51 / 1,600 characters"
    assert not editor.number_chip.isEnabled()  # one kind of placeholder per message
    assert editor.save_button.isEnabled()
    editor.save_button.click()
    qtbot.waitUntil(lambda: not editor.isVisible(), timeout=5000)
    wait_names(qtbot, view, ["Order ready"])
    assert view.selected() is not None and view.selected().name == "Order ready"
    assert "{{city}}  ←  the contact's “city”" in view.detail.placeholders.text()
    (stored,) = run(services.templates.list())
    assert (stored.kind, stored.body) == (TemplateKind.FREEFORM, editor.body.toPlainText())


def test_sample_contact_when_there_are_none_and_missing_values(
    view: TemplatesView, qtbot: QtBot
) -> None:
    view.new_btn.click()
    editor = open_editor(qtbot, view)
    assert "Maria Gomez, +91 70330 09600, city Pune" in editor.sample.currentText()
    editor.body.setPlainText("Hi {{name}} from {{city}}, your {{plan}}")
    assert editor.preview.text() == "Hi Maria Gomez from Pune, your {{plan}}"
    assert "“plan”, which contacts lack" in editor.problems.text()
    assert editor.save_button.isEnabled() is False  # no name yet
    editor.name.setText("Plan reminder")
    assert editor.save_button.isEnabled()  # a missing value is a warning, not a blocker


def test_over_the_limit_or_bad_placeholders_disable_save(view: TemplatesView, qtbot: QtBot) -> None:
    view.new_btn.click()
    editor = open_editor(qtbot, view)
    editor.name.setText("Long one")
    editor.body.setPlainText("a" * 1601)
    assert not editor.save_button.isEnabled()
    assert editor.blocker.text() == "Too long to save: 1,601 characters, the limit is 1,600."
    assert "Twilio accepts at most 1,600" in editor.problems.text()
    editor.account.setCurrentIndex(editor.account.findText("Sandbox"))  # Meta dialect: 4,096
    assert editor.counter.text() == "1,601 / 4,096 characters"
    assert editor.save_button.isEnabled() and editor.blocker.text() == ""
    editor.body.setPlainText("Hi {{ first_name }}")
    assert not editor.save_button.isEnabled()
    assert editor.blocker.text() == "Fix the placeholders to save."
    assert "write {{first_name}}" in editor.problems.text()


def test_numbered_chip_inserts_the_next_number(view: TemplatesView, qtbot: QtBot) -> None:
    view.new_btn.click()
    editor = open_editor(qtbot, view)
    editor.kind.setCurrentIndex(editor.kind.findData(TemplateKind.APPROVED))
    assert editor.counter.text() == "0 / 1,024 characters"
    editor.number_chip.click()
    editor.insert(" and ")
    assert editor.number_chip.text() == "{{2}}"
    editor.number_chip.click()
    assert editor.body.toPlainText() == "{{1}} and {{2}}"
    assert not editor.chips["first_name"].isEnabled()
    assert "get their values when you use this in a campaign" in editor.note.text()
    assert editor.preview.text() == "{{1}} and {{2}}"


def test_edit_and_delete_a_local_message(
    view: TemplatesView,
    services: Services,
    qtbot: QtBot,
    run: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run(services.templates.save_freeform(template_id=None, name="Old", body="Hello there"))
    wait_names(qtbot, view, ["Old"])
    select(view, "Old")
    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_Return)
    editor = open_editor(qtbot, view)
    assert editor.body.toPlainText() == "Hello there"
    editor.name.setText("New")
    editor.save_button.click()
    wait_names(qtbot, view, ["New"])

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    select(view, "New")
    view.delete_btn.click()
    qtbot.wait(50)
    assert names(view) == ["New"]
    asked: list[str] = []

    def yes(_parent: Any, _title: str, text: str, *_a: Any, **_k: Any) -> Any:
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", yes)
    view.activateWindow()  # the editor was the active window
    qtbot.waitUntil(view.isActiveWindow, timeout=5000)
    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: view.table_stack.currentWidget() is view.empty, timeout=5000)
    assert asked == ["Delete “New”? This cannot be undone."]
    assert run(services.templates.list()) == []


def test_sync_failure_says_what_to_do(
    view: TemplatesView, services: Services, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[tuple[BaseException, str]] = []
    monkeypatch.setattr(
        view_module, "show_error", lambda _p, error, title: shown.append((error, title))
    )
    assert services.sandbox is not None
    services.sandbox.configure(meta={"access_token": "not-the-right-one"})
    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    error, title = shown[0]
    assert isinstance(error, WaappError) and error.what_to_do
    assert title == "Sync of Sandbox failed"
    assert view.sync_result.text().startswith("Sandbox: not synced — ")
    assert names(view) == []
