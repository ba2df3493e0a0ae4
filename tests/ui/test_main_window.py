"""The shell: sidebar, screens not built yet saying so, and the data location shown; the
tray, notifications and the rules for closing and quitting while campaigns are sending."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from tests.services.campaigns.harness import FAST
from tests.ui.test_campaign_wizard import look
from tests.ui.test_campaigns_view import audience, draft
from waapp.app import Services
from waapp.core.states import CampaignStatus
from waapp.paths import DataPaths
from waapp.services.events import CampaignChanged
from waapp.ui.bridge import Bridge
from waapp.ui.campaigns.quit import QuitDialog
from waapp.ui.campaigns.view import CampaignsView
from waapp.ui.main_window import (
    HIDDEN_NOTE,
    PAUSE_ALL_DETAIL,
    QUIT_PAUSE_DETAIL,
    SCREENS,
    MainWindow,
)

_C = CampaignStatus


def test_sidebar_lists_every_screen_and_unbuilt_ones_say_so(tmp_path: Path, qtbot: QtBot) -> None:
    window = MainWindow(DataPaths(tmp_path))
    qtbot.addWidget(window)
    assert window.opening.text() == "Opening your data…"
    window.attach({})
    titles = [window.sidebar.item(i).text() for i in range(window.sidebar.count())]
    assert titles == ["Dashboard", "Campaigns", "Contacts", "Templates", "Accounts", "Diagnostics"]
    assert window.sidebar.currentItem().text() == "Contacts"
    for key, _title in SCREENS:
        window.show_screen(key)
        texts = " ".join(
            label.text() for label in window.stack.currentWidget().findChildren(QLabel)
        )
        if key != "contacts":
            assert "not available in this version yet" in texts
    assert str(tmp_path / "waapp.db") in window.data_label.text()


def test_ctrl_number_switches_screens(tmp_path: Path, qtbot: QtBot) -> None:
    window = MainWindow(DataPaths(tmp_path))
    qtbot.addWidget(window)
    window.attach({})
    window.show()
    window.stack.setFocus()  # offscreen, the window is active once something in it has focus
    qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=2000)
    qtbot.keyClick(window, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert window.sidebar.currentItem().text() == "Templates"


# --- campaigns in the background: quitting, the tray, notifications ----------------------


@pytest.fixture
def make_window(
    services: Services, qtbot: QtBot, run: Any, tmp_path: Path
) -> Iterator[Callable[..., MainWindow]]:
    """A window over the services with the Campaigns screen; with or without a tray."""
    run(services.start_network())
    assert services.sandbox is not None
    services.sandbox.configure(scenario=FAST)
    made: list[tuple[MainWindow, Bridge]] = []

    def make(*, tray: bool) -> MainWindow:
        window = MainWindow(DataPaths(tmp_path))
        qtbot.addWidget(window)
        bridge = Bridge(services.bus, interval_ms=10)
        view = CampaignsView(services, bridge)
        window.attach({"campaigns": view})
        window.attach_services(services, bridge, tray_available=tray)
        window.show()
        run(view.load())
        qtbot.waitUntil(window.watching.done, timeout=5000)
        made.append((window, bridge))
        return window

    yield make
    for window, bridge in made:
        window.quitting = True  # the test is over: no question at teardown
        window.close()
        bridge.close()


async def sending_campaign(
    services: Services, name: str, contacts: int = 3, *, to: tuple[int, int] | None = None
) -> int:
    """A campaign in ``sending`` with its recipients frozen and no runner working it (so it
    stays sending while the test looks). ``to``: (group id, template id) made before."""
    if to is None:
        _, group_id, template_id = await audience(services, contacts)
    else:
        group_id, template_id = to
    cid = await draft(services, name, group_id, template_id)
    await services.campaigns.start(cid, run=False)
    return cid


async def last_note(services: Services, cid: int) -> tuple[CampaignStatus, str, str]:
    report = await services.campaigns.show(cid)
    event = report.timeline[-1]
    return report.campaign.status, event.cause, event.detail


def test_quit_with_nothing_sending_quits_at_once(
    make_window: Callable[..., MainWindow], qtbot: QtBot
) -> None:
    window = make_window(tray=False)
    assert window.quit_action.shortcut() == QKeySequence("Ctrl+Q")
    with qtbot.waitSignal(window.quitConfirmed, timeout=2000):
        window.quit_action.trigger()
    assert window.quit_dialog is None
    assert not window.isVisible()


def test_quit_while_sending_asks_and_pause_and_quit_pauses_each(
    make_window: Callable[..., MainWindow], services: Services, qtbot: QtBot, run: Any
) -> None:
    window = make_window(tray=False)
    cid = run(sending_campaign(services, "Spring sale", contacts=4))
    qtbot.waitUntil(lambda: [c.id for c in window.sending] == [cid], timeout=5000)

    quits: list[bool] = []
    window.quitConfirmed.connect(lambda: quits.append(True))
    window.quit_action.trigger()
    dialog = window.quit_dialog
    assert isinstance(dialog, QuitDialog) and dialog.isVisible()
    assert "Spring sale" in dialog.campaigns.text()
    assert "4 recipients left" in dialog.campaigns.text()
    assert dialog.keep_btn.text() == "Keep sending"
    # Nothing resumes by itself: the user presses Resume on it at the next start.
    assert "It stays paused: when you open waapp again, open it and press Resume" in (
        dialog.explain.text()
    )
    look(dialog, "c_quit_dialog")
    assert not quits  # nothing happens before the answer

    with qtbot.waitSignal(window.quitConfirmed, timeout=10_000):
        qtbot.mouseClick(dialog.pause_btn, Qt.MouseButton.LeftButton)
    assert run(last_note(services, cid)) == (_C.PAUSED, "user", QUIT_PAUSE_DETAIL)
    assert not window.isVisible()


def test_keep_sending_or_cancel_without_a_tray_stays_open(
    make_window: Callable[..., MainWindow], services: Services, qtbot: QtBot, run: Any
) -> None:
    window = make_window(tray=False)
    cid = run(sending_campaign(services, "Stay"))
    qtbot.waitUntil(lambda: bool(window.sending), timeout=5000)
    quits: list[bool] = []
    window.quitConfirmed.connect(lambda: quits.append(True))

    window.close()  # no tray to hide in: closing asks as quitting does
    dialog = window.quit_dialog
    assert isinstance(dialog, QuitDialog) and dialog.isVisible()
    assert "stays open" in " ".join(label.text() for label in dialog.findChildren(QLabel))
    qtbot.mouseClick(dialog.keep_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.quit_dialog is None, timeout=2000)
    assert window.isVisible()

    window.quit_action.trigger()
    dialog = window.quit_dialog
    assert dialog is not None
    qtbot.mouseClick(dialog.cancel_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.quit_dialog is None, timeout=2000)
    assert window.isVisible() and not quits
    assert run(last_note(services, cid))[0] is _C.SENDING  # untouched


def test_closing_while_sending_hides_to_the_tray_and_says_so_once(
    make_window: Callable[..., MainWindow], services: Services, qtbot: QtBot, run: Any
) -> None:
    window = make_window(tray=True)
    tray = window.tray
    assert tray is not None
    _, group_id, template_id = run(audience(services, 4))
    first = run(sending_campaign(services, "Spring sale", to=(group_id, template_id)))
    qtbot.waitUntil(lambda: len(tray.sending_actions) == 1, timeout=5000)
    assert tray.sending_actions[0][1].text() == "Spring sale — 0 % (4 left)"
    assert tray.icon.toolTip() == "waapp — sending Spring sale — 0 % (4 left)"
    assert tray.pause_all_action.isEnabled()
    quits: list[bool] = []
    window.quitConfirmed.connect(lambda: quits.append(True))

    window.close()
    assert not window.isVisible() and not quits  # hidden, still running
    assert tray.shown == [("waapp is still sending", HIDDEN_NOTE)]
    tray.showRequested.emit()  # a click on the icon
    assert window.isVisible()
    window.close()
    assert not window.isVisible()
    assert len(tray.shown) == 1  # said once

    # The tray's Quit asks (the window comes up for it); "Keep sending" goes back to the tray.
    tray.quit_action.trigger()
    dialog = window.quit_dialog
    assert dialog is not None and window.isVisible()
    assert "in the system tray" in " ".join(label.text() for label in dialog.findChildren(QLabel))
    qtbot.mouseClick(dialog.keep_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=2000)
    assert not quits

    # Pause all, from the tray menu: every sending campaign, through the service.
    second = run(sending_campaign(services, "Summer news", to=(group_id, template_id)))
    qtbot.waitUntil(lambda: len(tray.sending_actions) == 2, timeout=5000)
    assert tray.icon.toolTip().startswith("waapp — sending 2 campaigns:")
    tray.pause_all_action.trigger()
    qtbot.waitUntil(lambda: not tray.sending_actions, timeout=5000)
    for cid in (first, second):
        assert run(last_note(services, cid)) == (_C.PAUSED, "user", PAUSE_ALL_DETAIL)
    assert tray.icon.toolTip() == "waapp — nothing is sending"
    assert not tray.pause_all_action.isEnabled()
    # Nothing sending now: closing quits.
    with qtbot.waitSignal(window.quitConfirmed, timeout=2000):
        window.show()
        window.close()


def test_a_finished_campaign_notifies_and_the_click_opens_it(
    make_window: Callable[..., MainWindow], services: Services, qtbot: QtBot, run: Any
) -> None:
    window = make_window(tray=True)
    tray = window.tray
    assert tray is not None
    _, group_id, template_id = run(audience(services, 3))
    cid = run(draft(services, "Orders", group_id, template_id))
    qtbot.waitUntil(lambda: window._seen is not None and cid in window._seen, timeout=5000)
    run(services.campaigns.start(cid))
    qtbot.waitUntil(lambda: bool(window.notices), timeout=20_000)
    notice = window.notices[-1]
    assert notice.campaign_id == cid and notice.title == "Campaign finished"
    assert tray.shown[-1] == ("Campaign finished", "“Orders” is finished: 3 messages sent.")

    window.show_screen("contacts")
    window.hide()
    tray.icon.messageClicked.emit()  # the user clicks the notification
    assert window.isVisible()
    view = window.screens["campaigns"]
    assert isinstance(view, CampaignsView)
    assert window.stack.currentWidget() is view
    qtbot.waitUntil(
        lambda: view.panel.campaign is not None and view.panel.campaign.id == cid, timeout=5000
    )
    assert view.stack.currentWidget() is view.panel
    look(window, "c_main_opened_from_notice")


def test_a_pause_by_the_engine_notifies_in_the_status_bar_without_a_tray(
    make_window: Callable[..., MainWindow], services: Services, qtbot: QtBot, run: Any
) -> None:
    window = make_window(tray=False)
    cid = run(sending_campaign(services, "Promo"))
    qtbot.waitUntil(lambda: bool(window.sending), timeout=5000)
    # The user's own pause: no notification.
    run(services.campaigns.pause(cid))
    qtbot.waitUntil(lambda: not window.sending, timeout=5000)
    run(services.campaigns.resume(cid, run=False))
    qtbot.waitUntil(lambda: bool(window.sending), timeout=5000)
    assert window.notices == []
    # The engine pauses it (as it does on an authentication error).
    repo = services.campaigns.repo
    reason = "Authentication failed (190): The access token is not valid. Update the token."
    run(services.worker.run(lambda: repo.set_status(cid, _C.PAUSED, cause="engine", detail=reason)))
    services.bus.publish(CampaignChanged(cid))
    qtbot.waitUntil(lambda: bool(window.notices), timeout=5000)
    expected = "“Promo” paused itself. Authentication failed (190): The access token is not valid."
    assert window.notices[-1].text == expected
    assert window.statusBar().currentMessage() == expected  # one sentence naming the campaign
