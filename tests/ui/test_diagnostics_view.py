"""The Diagnostics screen driven through its widgets, on a real store with the in-process
Sandbox."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from waapp.app import Services
from waapp.core.entities import AccountKind
from waapp.sandbox.settings import DEFAULT_WASENDER_API_KEY
from waapp.ui.bridge import Bridge
from waapp.ui.diagnostics import DiagnosticsView
from waapp.ui.diagnostics.view import DELIVERY_TAB, GUIDE_TAB

CUSTOMER = "+919876543210"
STRANGER = "+919876500000"


def make_view(services: Services, qtbot: QtBot, run: Any, **kwargs: Any) -> DiagnosticsView:
    widget = DiagnosticsView(services, Bridge(services.bus, interval_ms=10), **kwargs)
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    widget.show()
    run(widget.load())
    return widget


@pytest.fixture
def view(services: Services, qtbot: QtBot, run: Any) -> Iterator[DiagnosticsView]:
    run(services.start_network())
    widget = make_view(services, qtbot, run, auto_check=False)
    yield widget
    widget.shutdown()
    widget.bridge.close()


def account_id(view: DiagnosticsView) -> int:
    (only,) = view.cards
    return only


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_check_all_fills_the_sandbox_card(view: DiagnosticsView, qtbot: QtBot) -> None:
    card = view.cards[account_id(view)]
    assert "Not checked yet" in card.state.text()
    assert "Not checked" in view.accounts_tile.value.text()
    qtbot.mouseClick(view.check_all_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Ready to send" in card.state.text(), timeout=5000)
    assert "quality rating GREEN" in card.summary.text()
    assert "High (green)" in card.fact_labels["quality"].text()
    assert card.fact_labels["limit"].text() == "10 000 new people per 24 h"
    assert card.fact_labels["session"].isHidden()  # not a gateway
    assert card.advice.isHidden() and card.guide_btn.isHidden()
    qtbot.waitUntil(lambda: "1 of 1 ready" in view.accounts_tile.value.text(), timeout=5000)


def test_the_first_showing_checks_every_account(services: Services, qtbot: QtBot, run: Any) -> None:
    run(services.start_network())
    widget = make_view(services, qtbot, run)
    try:
        (card,) = widget.cards.values()
        qtbot.waitUntil(lambda: "Ready to send" in card.state.text(), timeout=5000)
    finally:
        widget.shutdown()
        widget.bridge.close()


def test_last_events_fill_live_after_a_sandbox_send(
    view: DiagnosticsView, services: Services, qtbot: QtBot, run: Any, qtmodeltester: Any
) -> None:
    assert view.events_stack.currentWidget() is view.no_events
    assert services.sandbox is not None
    services.sandbox.inbound(CUSTOMER, "Do you deliver on Sundays?")
    provider = run(services.accounts.provider(account_id(view)))
    assert run(provider.send_text(CUSTOMER, "Yes we do!", reference="r1")).accepted
    assert run(provider.send_text(STRANGER, "Big sale today", reference="r2")).accepted
    model = view.events_model

    def column(number: int) -> list[str]:
        return [model.data(model.index(row, number)) for row in range(model.rowCount())]

    qtbot.waitUntil(
        lambda: "Read" in column(4) and any("131047" in e for e in column(5)), timeout=8000
    )
    assert view.events_stack.currentWidget() is view.events_table
    assert "Do you deliver on Sundays?" in column(4)
    assert "+91 98765 43210" in column(3)  # the reply's sender
    assert "To +91 98765 43210" in column(3)  # the statuses of our answer
    assert "131047 — Outside the 24-hour window" in column(5)
    row = column(5).index("131047 — Outside the 24-hour window")
    tooltip = model.data(model.index(row, 5), Qt.ItemDataRole.ToolTipRole)
    assert "What to do:" in tooltip
    assert model.event_at(0).at >= model.event_at(model.rowCount() - 1).at
    qtmodeltester.check(model)
    assert "ago" in view.events_tile.value.text() or "just now" in view.events_tile.value.text()


def test_guide_search_filters_symptoms_and_shows_the_fix(
    view: DiagnosticsView, qtbot: QtBot
) -> None:
    view.tabs.setCurrentIndex(GUIDE_TAB)
    guide = view.guide
    assert len(guide.keys()) >= 10
    qtbot.keyClicks(guide.search, "131047")
    qtbot.waitUntil(lambda: guide.keys() == ["outside-24h"], timeout=3000)
    shown = guide.text.toPlainText()
    assert "Likely causes" in shown and "The fix" in shown
    assert "approved template" in shown
    assert "Outside the 24-hour window" in shown  # the code with its catalogue title
    guide.search.clear()
    qtbot.keyClicks(guide.search, "QR code")
    qtbot.waitUntil(lambda: guide.current_key() == "session-disconnected", timeout=3000)
    assert "Linked devices" in guide.text.toPlainText()
    guide.search.setText("zzzz")
    qtbot.waitUntil(lambda: guide.keys() == [], timeout=3000)
    assert not guide.empty.isHidden()
    view.show_guide("stuck-scheduled")  # from an account card's "What to do…"
    assert guide.keys()[0] == "sent-not-delivered" and guide.current_key() == "stuck-scheduled"
    assert "missed-schedule policy" in guide.text.toPlainText()


def test_forged_webhooks_are_counted_and_apply_moves_the_receiver(
    view: DiagnosticsView, services: Services, qtbot: QtBot, run: Any
) -> None:
    view.tabs.setCurrentIndex(DELIVERY_TAB)
    delivery = view.delivery
    number = account_id(view)
    _name, local, _copy, public, _ = delivery.url_rows[number]
    assert local.text() == services.intake.url_for(number)
    assert public.isHidden() and delivery.public_header is not None
    assert "Listening on this computer only" in delivery.receiver_state.text()

    async def forge() -> int:
        async with (
            aiohttp.ClientSession() as session,
            session.post(local.text(), data=b"{}", headers={"X-Hub-Signature-256": "x"}) as r,
        ):
            return r.status

    assert run(forge()) == 403
    view.request_refresh()
    qtbot.waitUntil(lambda: delivery.counters["forged"].number.text() == "1", timeout=3000)
    assert "forged" in view.delivery_tile.detail.text()

    port = free_port()
    delivery.port_input.setValue(port)
    delivery.tunnel_input.setText("")
    qtbot.mouseClick(delivery.apply_btn, Qt.MouseButton.LeftButton)
    expected = f"http://127.0.0.1:{port}/webhooks/{number}"
    qtbot.waitUntil(lambda: delivery.url_rows[number][1].text() == expected, timeout=5000)
    qtbot.waitUntil(lambda: "Applied" in delivery.apply_state.text(), timeout=3000)
    assert f"port {port}" in delivery.receiver_state.text()
    assert delivery.url_rows[number][2].value == expected
    assert delivery.counters["forged"].number.text() == "0"  # a new receiver

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        delivery.port_input.setValue(int(busy.getsockname()[1]))
        qtbot.mouseClick(delivery.apply_btn, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "Not applied" in delivery.apply_state.text(), timeout=5000)
    assert delivery.apply_btn.isEnabled()
    assert services.intake.receiver.port == port


def test_a_gateway_waiting_for_a_qr_scan_says_what_to_do(
    view: DiagnosticsView, services: Services, qtbot: QtBot, run: Any
) -> None:
    assert services.sandbox is not None
    gateway = run(
        services.accounts.add(
            kind=AccountKind.WASENDER,
            name="Shop gateway",
            settings={"base_url": services.sandbox.url},
            secrets={"api_key": DEFAULT_WASENDER_API_KEY, "webhook_secret": "secret"},
        )
    )
    services.sandbox.configure(scenario={"session": "need_scan"})
    qtbot.waitUntil(lambda: gateway.id in view.cards, timeout=3000)  # accountsChanged
    card = view.cards[gateway.id]
    qtbot.mouseClick(card.check_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Needs attention" in card.state.text(), timeout=5000)
    assert "Scan the QR code in your WaSender dashboard" in card.summary.text()
    assert "Needs a QR scan" in card.fact_labels["session"].text()
    assert card.fact_labels["quality"].isHidden()
    qtbot.waitUntil(lambda: "1 needs attention" in view.accounts_tile.value.text(), timeout=3000)
    assert "Shop gateway" in view.accounts_tile.detail.text()
    assert not card.guide_btn.isHidden()
    qtbot.mouseClick(card.guide_btn, Qt.MouseButton.LeftButton)
    assert view.tabs.currentIndex() == GUIDE_TAB
    assert view.guide.current_key() == "session-disconnected"
