"""The Accounts screen driven through its widgets, on a real store and keyring backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import keyring
import keyring.backends.fail
import keyring.errors
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QComboBox, QLineEdit, QMessageBox
from pytestqt.qtbot import QtBot
from sqlalchemy import insert

from tests.conftest import MemoryKeyring
from waapp.app import Services
from waapp.core.entities import AccountKind
from waapp.store.schema import campaigns
from waapp.ui.accounts.dialog import CLEARED_PLACEHOLDER, SAVED_PLACEHOLDER, AccountDialog
from waapp.ui.accounts.model import NAME, PROVIDER, STATUS, AccountsModel, status_from_report
from waapp.ui.accounts.view import AccountsView
from waapp.ui.accounts.words import LOCAL_ONLY
from waapp.ui.bridge import Bridge
from waapp.ui.theme import status_color

TOKEN = "tw-Secret-8c1e0f"
SID = "AC" + "7" * 32


@pytest.fixture
def view(services: Services, qtbot: QtBot, run: Any) -> Iterator[AccountsView]:
    bridge = Bridge(services.bus, interval_ms=10)
    widget = AccountsView(services, bridge)
    qtbot.addWidget(widget)
    widget.resize(1100, 720)
    widget.show()
    run(widget.load())
    yield widget
    if widget.dialog is not None:
        widget.dialog.reject()
    widget.shutdown()
    bridge.close()


@pytest.fixture
def networked(services: Services, run: Any) -> Services:
    """The in-process Sandbox, its first-run account and the webhook receiver."""
    run(services.start_network())
    return services


def names(view: AccountsView) -> list[str]:
    model = view.model
    return [model.data(model.index(r, NAME)) for r in range(model.rowCount())]


def cell(
    view: AccountsView, name: str, column: int, role: int = Qt.ItemDataRole.DisplayRole
) -> Any:
    row = names(view).index(name)
    return view.model.data(view.model.index(row, column), role)


def select(view: AccountsView, name: str) -> None:
    view.table.selectRow(names(view).index(name))


def open_dialog(qtbot: QtBot, view: AccountsView) -> AccountDialog:
    qtbot.waitUntil(lambda: view.dialog is not None and view.dialog.isVisible(), timeout=5000)
    assert view.dialog is not None
    return view.dialog


def add_twilio(services: Services, run: Any, name: str = "Shop") -> int:
    account = run(
        services.accounts.add(
            kind=AccountKind.TWILIO,
            name=name,
            settings={"account_sid": SID, "sender": "+14155238886"},
            secrets={"auth_token": TOKEN},
        )
    )
    return int(account.id)


def test_model_passes_qt_model_tester(networked: Services, run: Any, qtmodeltester: Any) -> None:
    add_twilio(networked, run)
    model = AccountsModel()
    accounts = run(networked.accounts.list())
    model.set_accounts(accounts, {})
    qtmodeltester.check(model)
    assert model.rowCount() == 2 and model.columnCount() == 3
    sandbox_id = next(a.id for a in accounts if a.kind is AccountKind.SANDBOX)
    assert sandbox_id is not None
    model.set_status(
        sandbox_id, status_from_report(run(networked.accounts.test_connection(sandbox_id)))
    )
    qtmodeltester.check(model)


def test_empty_screen_says_what_to_do(view: AccountsView) -> None:
    assert view.table_stack.currentWidget() is view.empty
    assert "Add account" in view.empty.text()
    assert view.banner.isHidden()  # the memory keyring counts as a system keyring
    assert not view.test_btn.isEnabled() and not view.remove_btn.isEnabled()


def test_add_a_twilio_account_through_the_form(
    view: AccountsView,
    services: Services,
    qtbot: QtBot,
    run: Any,
    memory_keyring: MemoryKeyring,
) -> None:
    view.add_btn.click()
    dialog = open_dialog(qtbot, view)
    assert not dialog.next_btn.isEnabled()  # choose a provider first
    dialog.kind_buttons[AccountKind.TWILIO].click()
    dialog.next_btn.click()
    assert dialog.windowTitle() == "Add a Twilio account"
    assert set(dialog.setting_inputs) >= {"account_sid", "sender", "base_url"}
    base_url = dialog.setting_inputs["base_url"]
    assert isinstance(base_url, QLineEdit) and "api.twilio.com" in base_url.placeholderText()
    assert not base_url.isVisibleTo(dialog)  # "change only for testing": folded away
    token = dialog.secret_inputs["auth_token"]
    assert token.edit.echoMode() == QLineEdit.EchoMode.Password and token.clear_btn.isHidden()

    # Saving with fields missing keeps the dialog open and says what is missing.
    dialog.name.setText("Shop WhatsApp")
    dialog.save()
    qtbot.waitUntil(lambda: not dialog.error.isHidden(), timeout=5000)
    assert "the Account SID" in dialog.error.text() and "the Auth Token" in dialog.error.text()
    assert dialog.isVisible() and dialog.name.text() == "Shop WhatsApp"  # nothing typed lost

    account_sid = dialog.setting_inputs["account_sid"]
    sender = dialog.setting_inputs["sender"]
    assert isinstance(account_sid, QLineEdit) and isinstance(sender, QLineEdit)
    account_sid.setText(SID)
    sender.setText("+14155238886")
    token.edit.setText(TOKEN)
    dialog.save_btn.click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
    qtbot.waitUntil(lambda: names(view) == ["Shop WhatsApp"], timeout=5000)

    (account,) = run(services.accounts.list())
    assert account.kind is AccountKind.TWILIO
    assert account.settings == {"account_sid": SID, "sender": "+14155238886"}
    assert memory_keyring.secrets == {("waapp", f"account-{account.id}:auth_token"): TOKEN}
    assert cell(view, "Shop WhatsApp", PROVIDER) == "Twilio"
    assert cell(view, "Shop WhatsApp", STATUS) == "not tested yet"
    assert cell(view, "Shop WhatsApp", STATUS, Qt.ItemDataRole.ForegroundRole) == status_color(
        "muted"
    )
    assert view.selected_id() == account.id  # the new account is selected
    assert "Auth Token: saved" in view.keys_label.text()


def test_edit_keeps_the_stored_secret_and_clear_removes_an_optional_one(
    view: AccountsView,
    services: Services,
    qtbot: QtBot,
    run: Any,
    memory_keyring: MemoryKeyring,
) -> None:
    account = run(
        services.accounts.add(
            kind=AccountKind.WASENDER,
            name="Phone",
            settings={},
            secrets={"api_key": "ws-key", "webhook_secret": "ws-hook"},
        )
    )
    qtbot.waitUntil(lambda: names(view) == ["Phone"], timeout=5000)
    select(view, "Phone")
    view.edit_btn.click()
    dialog = open_dialog(qtbot, view)
    api_key = dialog.secret_inputs["api_key"]
    hook = dialog.secret_inputs["webhook_secret"]
    assert api_key.edit.text() == "" and api_key.edit.placeholderText() == SAVED_PLACEHOLDER
    assert not api_key.clear_btn.isHidden()
    hook.clear_btn.click()
    assert hook.edit.placeholderText() == CLEARED_PLACEHOLDER
    dialog.name.setText("Store phone")
    dialog.save_btn.click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
    qtbot.waitUntil(lambda: names(view) == ["Store phone"], timeout=5000)
    assert memory_keyring.secrets == {("waapp", f"account-{account.id}:api_key"): "ws-key"}


def test_clearing_a_required_secret_is_refused_inline(
    view: AccountsView, services: Services, qtbot: QtBot, run: Any
) -> None:
    add_twilio(services, run)
    qtbot.waitUntil(lambda: names(view) == ["Shop"], timeout=5000)
    select(view, "Shop")
    view.edit_account()
    dialog = open_dialog(qtbot, view)
    dialog.secret_inputs["auth_token"].clear_btn.click()
    dialog.save()
    qtbot.waitUntil(lambda: not dialog.error.isHidden(), timeout=5000)
    assert "the Auth Token" in dialog.error.text() and dialog.isVisible()
    assert run(services.accounts.secret_status(run(services.accounts.list())[0])) == {
        "auth_token": True
    }


def test_sandbox_account_test_connection_shows_ok(
    networked: Services, view: AccountsView, qtbot: QtBot, run: Any
) -> None:
    run(view.reload())
    assert names(view) == ["Sandbox"]
    assert cell(view, "Sandbox", PROVIDER) == "Sandbox (built-in simulator)"
    assert "simulator running on this computer" in view.detail_about.text()
    assert "No message leaves it" in view.detail_about.text()
    (account,) = run(networked.accounts.list())
    assert view.webhook_url.text() == networked.intake.url_for(account.id)
    assert view.webhook_note.isHidden()  # the built-in Sandbox needs no tunnel

    select(view, "Sandbox")
    qtbot.keyClick(view.table, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: cell(view, "Sandbox", STATUS).startswith("✓"), timeout=5000)
    assert "ready to send" in cell(view, "Sandbox", STATUS)
    assert cell(view, "Sandbox", STATUS, Qt.ItemDataRole.ForegroundRole) == status_color("ok")
    assert "ready to send" in view.result_summary.text()
    assert "Quality rating" in view.result_details.text()
    assert "10,000 people a day" in view.result_details.text()

    view.copy_btn.click()
    assert QGuiApplication.clipboard().text() == view.webhook_url.text()


def test_failed_and_incomplete_tests_say_why(
    networked: Services, view: AccountsView, qtbot: QtBot, run: Any
) -> None:
    assert networked.sandbox is not None
    run(
        networked.accounts.add(
            kind=AccountKind.WASENDER,
            name="Phone",
            settings={"base_url": networked.sandbox.url},
            secrets={"api_key": "not-the-key"},
        )
    )
    qtbot.waitUntil(lambda: "Phone" in names(view), timeout=5000)
    select(view, "Phone")
    assert not view.webhook_note.isHidden() and view.webhook_note.text() == LOCAL_ONLY
    view.test_btn.click()
    qtbot.waitUntil(lambda: cell(view, "Phone", STATUS).startswith("✗"), timeout=5000)
    assert "API key refused" in cell(view, "Phone", STATUS)
    assert cell(view, "Phone", STATUS, Qt.ItemDataRole.ForegroundRole) == status_color("bad")
    assert "Invalid API key" in view.result_details.text()


def test_remove_asks_first_and_refusals_are_shown_plainly(
    view: AccountsView,
    services: Services,
    qtbot: QtBot,
    run: Any,
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: MemoryKeyring,
) -> None:
    used = add_twilio(services, run, "Used")
    add_twilio(services, run, "Spare")
    with services.db.transaction() as conn:
        conn.execute(
            insert(campaigns).values(
                name="Diwali",
                account_id=used,
                window_policy="template_only",
                missed_schedule_policy="ask",
                status="draft",
                counters={},
                created_at=run(services.accounts.get(used)).created_at,
            )
        )
    qtbot.waitUntil(lambda: names(view) == ["Spare", "Used"], timeout=5000)

    asked: list[str] = []

    def cancel(_parent: Any, _title: str, text: str, *a: Any, **k: Any) -> Any:
        asked.append(text)
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", cancel)
    select(view, "Spare")
    view.remove_btn.click()
    assert "Remove the account “Spare”" in asked[0]
    assert names(view) == ["Spare", "Used"]

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: names(view) == ["Used"], timeout=5000)
    assert len(memory_keyring.secrets) == 1  # the spare's token left the keyring

    shown: list[tuple[BaseException, str]] = []
    monkeypatch.setattr(
        "waapp.ui.ops.show_error",
        lambda _parent, error, *, title="waapp": shown.append((error, title)),
    )
    select(view, "Used")
    view.remove_account()
    qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    error, title = shown[0]
    assert "1 campaign uses it" in str(error) and title == "The account was not removed"
    assert names(view) == ["Used"]


def test_no_keyring_banner(services: Services, qtbot: QtBot, run: Any, tmp_path: Any) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    bridge = Bridge(services.bus, interval_ms=10)
    widget = AccountsView(services, bridge)
    qtbot.addWidget(widget)
    widget.show()
    run(widget.load())
    assert widget.banner.isVisible()
    assert "not encrypted" in widget.banner.text()
    assert str(services.paths.fallback_keyring) in widget.banner.text()

    add_twilio(services, run)  # the token goes to the announced file, never nowhere
    qtbot.waitUntil(lambda: names(widget) == ["Shop"], timeout=5000)
    assert services.paths.fallback_keyring.exists()
    assert services.secrets.get(1, "auth_token") == TOKEN
    assert "in an unencrypted file" in widget.keys_label.text()
    widget.shutdown()
    bridge.close()


def test_sandbox_form_shows_the_fields_of_the_imitated_provider(
    view: AccountsView, qtbot: QtBot
) -> None:
    qtbot.keyClick(view.table, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    dialog = open_dialog(qtbot, view)
    dialog.choose(AccountKind.SANDBOX)
    dialect = dialog.setting_inputs["dialect"]
    assert isinstance(dialect, QComboBox) and dialect.currentData() == "meta"
    assert dialog.setting_inputs["phone_number_id"].isVisibleTo(dialog)
    assert not dialog.setting_inputs["account_sid"].isVisibleTo(dialog)
    dialect.setCurrentIndex(dialect.findData("twilio"))
    assert dialog.setting_inputs["account_sid"].isVisibleTo(dialog)
    assert dialog.secret_inputs["auth_token"].isVisibleTo(dialog)
    assert not dialog.secret_inputs["access_token"].isVisibleTo(dialog)
    dialog.back_btn.click()
    assert dialog.pages.currentIndex() == 0


def test_in_process_sandbox_edit_changes_only_the_name(
    networked: Services, view: AccountsView, qtbot: QtBot, run: Any
) -> None:
    run(view.reload())
    select(view, "Sandbox")
    view.activateWindow()
    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_Return)
    dialog = open_dialog(qtbot, view)
    assert dialog.setting_inputs == {} and dialog.secret_inputs == {}
    dialog.name.setText("Practice")
    dialog.save_btn.click()
    qtbot.waitUntil(lambda: names(view) == ["Practice"], timeout=5000)
    (account,) = run(networked.accounts.list())
    assert account.settings["in_process"] is True
    assert run(networked.accounts.test_connection(int(account.id))).ok


def test_a_locked_keyring_is_said_inline_and_nothing_is_saved(
    view: AccountsView, services: Services, qtbot: QtBot, run: Any
) -> None:
    class Locked(MemoryKeyring):
        def set_password(self, service: str, username: str, password: str) -> None:
            raise keyring.errors.PasswordSetError("locked")

    keyring.set_keyring(Locked())
    view.add_account()
    dialog = open_dialog(qtbot, view)
    dialog.choose(AccountKind.WASENDER)
    dialog.name.setText("Phone")
    dialog.secret_inputs["api_key"].edit.setText("ws-key")
    dialog.save()
    qtbot.waitUntil(lambda: not dialog.error.isHidden(), timeout=5000)
    assert "keyring refused to keep the keys" in dialog.error.text()
    assert dialog.isVisible() and dialog.secret_inputs["api_key"].edit.text() == "ws-key"
    assert run(services.accounts.list()) == []
