"""The Campaigns screen and the campaign view, driven through their widgets on a real store
with the in-process Sandbox."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from tests.services.campaigns.harness import FAST, phone
from waapp.app import Services
from waapp.core.entities import AccountKind, Campaign, Contact, Route, Template, TemplateKind
from waapp.core.ports import ContactQuery
from waapp.core.states import CAMPAIGN_TRANSITIONS, CampaignStatus, MessageState
from waapp.store.campaigns import PlannedMessage, SendOutcome
from waapp.ui.bridge import Bridge
from waapp.ui.campaigns.list_model import STATUS_COLUMN, CampaignsModel
from waapp.ui.campaigns.panel import ACTIONS
from waapp.ui.campaigns.recipients_model import RecipientsModel
from waapp.ui.campaigns.view import CampaignsView
from waapp.ui.theme import status_color

_C = CampaignStatus


@pytest.fixture
def view(services: Services, qtbot: QtBot, run: Any) -> Iterator[CampaignsView]:
    run(services.start_network())
    assert services.sandbox is not None
    services.sandbox.configure(scenario=FAST)
    bridge = Bridge(services.bus, interval_ms=10)
    widget = CampaignsView(services, bridge, dashboard=True)
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    widget.show()
    run(widget.load())
    yield widget
    widget.shutdown()
    bridge.close()


async def sandbox_account(services: Services) -> int:
    accounts = await services.accounts.list()
    account = next(a for a in accounts if a.kind is AccountKind.SANDBOX)
    assert account.id is not None
    return account.id


async def audience(services: Services, count: int, *, failing: int = 0) -> tuple[int, int, int]:
    """(account id, group id, approved template id) with ``count`` contacts, the last
    ``failing`` of them on numbers the Sandbox says are not on WhatsApp."""
    db, worker = services.db, services.worker
    account_id = await sandbox_account(services)
    await worker.run(
        db.templates.replace_synced,
        account_id,
        [
            Template(
                account_id=account_id,
                kind=TemplateKind.APPROVED,
                name="order_update",
                language="en_US",
                category="UTILITY",
                body="Hi {{1}}, your order {{2}} is on its way.",
                status="APPROVED",
            )
        ],
    )
    template = next(t for t in await worker.run(db.templates.list, account_id))
    people = [
        Contact(phone_e164=phone(i), name=f"Person {i}", fields={"order": f"#{i}"})
        for i in range(count - failing)
    ] + [
        Contact(phone_e164=f"+1415555{i:01d}404", name=f"Gone {i}", fields={"order": "#x"})
        for i in range(failing)
    ]
    await worker.run(db.contacts.add_many, people)
    group = await worker.run(db.groups.create, "Customers")
    assert group.id is not None and template.id is not None
    ids = await worker.run(db.contacts.ids, ContactQuery())
    await worker.run(db.groups.add_members, group.id, ids)
    return account_id, group.id, template.id


async def draft(services: Services, name: str, group_id: int, template_id: int) -> int:
    account_id = await sandbox_account(services)
    campaign = await services.campaigns.create(
        name=name,
        account_id=account_id,
        group_ids=[group_id],
        template_id=template_id,
        variable_mapping={"1": {"field": "first_name"}, "2": {"field": "order"}},
    )
    assert campaign.id is not None
    return campaign.id


def statuses(view: CampaignsView) -> dict[str, str]:
    m = view.model
    return {m.data(m.index(r, 0)): m.data(m.index(r, STATUS_COLUMN)) for r in range(m.rowCount())}


def visible_actions(view: CampaignsView) -> set[str]:
    return {k for k, b in view.panel.buttons.items() if b.isVisibleTo(view.panel) and b.isEnabled()}


def counts(view: CampaignsView) -> dict[str, int]:
    assert view.panel.snapshot is not None
    return view.panel.snapshot.counts


# --- the list ---------------------------------------------------------------------------


def test_list_colours_statuses_filters_and_searches(
    view: CampaignsView, services: Services, run: Any, qtbot: QtBot, qtmodeltester: Any
) -> None:
    _, group_id, template_id = run(audience(services, 3))
    first = run(draft(services, "Spring sale", group_id, template_id))
    second = run(draft(services, "Summer news", group_id, template_id))
    run(draft(services, "Autumn sale", group_id, template_id))
    repo = services.campaigns.repo
    run(services.worker.run(lambda: repo.set_status(second, _C.SCHEDULED, cause="test")))
    run(services.campaigns.cancel(second))
    qtbot.waitUntil(lambda: statuses(view).get("Summer news") == "Cancelled", timeout=5000)
    del first

    m = view.model
    row = m.row_of(second)
    assert row is not None
    assert m.data(m.index(row, STATUS_COLUMN)) == "Cancelled"
    assert m.data(m.index(row, STATUS_COLUMN), Qt.ItemDataRole.ForegroundRole) == status_color(
        "muted"
    )
    assert view.filter_buttons[_C.DRAFT].text() == "Draft 2"
    assert view.filter_buttons[None].text() == "All 3"
    assert not view.filter_buttons[_C.SENDING].isVisible()  # no sending campaign: hidden

    qtbot.mouseClick(view.filter_buttons[_C.DRAFT], Qt.MouseButton.LeftButton)
    assert set(statuses(view)) == {"Spring sale", "Autumn sale"}
    view.search.setText("autumn")
    assert set(statuses(view)) == {"Autumn sale"}
    view.search.clear()
    qtbot.mouseClick(view.filter_buttons[None], Qt.MouseButton.LeftButton)
    assert len(statuses(view)) == 3
    view.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert [m.data(m.index(r, 0)) for r in range(3)] == [
        "Autumn sale",
        "Spring sale",
        "Summer news",
    ]
    qtmodeltester.check(m)


def test_model_checks_with_every_status(qtmodeltester: Any) -> None:
    model = CampaignsModel()
    model.set_campaigns(
        [
            Campaign(name=s.value, account_id=1, status=s, counters={"sent": 3, "pending": 1}, id=n)
            for n, s in enumerate(CampaignStatus, start=1)
        ]
    )
    kinds = {
        model.data(model.index(r, 0)): model.data(
            model.index(r, STATUS_COLUMN), Qt.ItemDataRole.ForegroundRole
        )
        for r in range(model.rowCount())
    }
    assert kinds["sending"] == status_color("ok")
    assert kinds["paused"] == status_color("warn")
    assert kinds["failed"] == status_color("bad")
    assert kinds["draft"] == status_color("muted")
    qtmodeltester.check(model)


# --- the campaign view against the Sandbox ---------------------------------------------


def test_campaign_view_counts_after_a_campaign_completes(
    view: CampaignsView, services: Services, run: Any, qtbot: QtBot, qtmodeltester: Any
) -> None:
    _, group_id, template_id = run(audience(services, 12, failing=2))
    cid = run(draft(services, "Orders", group_id, template_id))
    qtbot.waitUntil(lambda: view.model.row_of(cid) is not None, timeout=5000)
    view.table.selectRow(view.model.row_of(cid) or 0)
    view.open_current()
    qtbot.waitUntil(lambda: view.panel.campaign is not None, timeout=5000)
    assert visible_actions(view) == {"start", "duplicate"}

    qtbot.mouseClick(view.panel.buttons["start"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: (
            view.panel.campaign is not None
            and view.panel.campaign.status is _C.COMPLETED
            and counts(view).get("failed") == 2
            and counts(view).get("read") == 10
        ),
        timeout=20_000,
    )
    assert sum(counts(view).values()) == 12
    assert view.panel.progress.value() == view.panel.progress.maximum() == 12
    assert view.panel.funnel.values == [12, 10, 10, 10]
    assert view.panel.breakdown[MessageState.FAILED].text() == "Failed: 2"
    # Failures grouped by error, with the catalogue's meaning.
    assert view.panel.failures.rowCount() == 1
    assert view.panel.failures.item(0, 0).text() == "131026"
    assert view.panel.failures.item(0, 1).text() == "2"
    assert "WhatsApp" in view.panel.failures.item(0, 3).text()
    timeline = [
        view.panel.timeline.item(r, 1).text() for r in range(view.panel.timeline.rowCount())
    ]
    assert timeline[0] == "Sending → Completed"
    # Retry failed is offered: there are failures.
    assert visible_actions(view) == {"duplicate", "retry", "export"}
    # The list shows it live: completed, with its progress.
    qtbot.waitUntil(lambda: statuses(view).get("Orders") == "Completed", timeout=5000)
    qtmodeltester.check(view.panel.model)

    # The recipient table filters by status in SQL.
    view.panel.filter_by(MessageState.FAILED.value)
    qtbot.waitUntil(lambda: view.panel.model.rowCount() == 2, timeout=5000)
    rm = view.panel.model
    assert {rm.data(rm.index(r, 2)) for r in range(2)} == {"Failed"}
    assert rm.data(rm.index(0, 5)).startswith("131026")
    view.panel.filter_by(None)
    qtbot.waitUntil(lambda: view.panel.model.rowCount() == 12, timeout=5000)

    # Retry failed queues them again (they fail again at the Sandbox).
    task = view.panel.retry_failed()
    assert task is not None
    qtbot.waitUntil(task.done, timeout=5000)
    qtbot.waitUntil(
        lambda: (
            view.panel.campaign is not None
            and view.panel.campaign.status is _C.COMPLETED
            and counts(view).get("failed") == 2
        ),
        timeout=20_000,
    )


def test_retry_failed_is_offered_only_with_failures(
    view: CampaignsView, services: Services, run: Any, qtbot: QtBot
) -> None:
    _, group_id, template_id = run(audience(services, 4))
    cid = run(draft(services, "All good", group_id, template_id))
    run(services.campaigns.start(cid))
    run(services.campaigns.wait(cid))
    qtbot.waitUntil(view.open_campaign(cid).done, timeout=5000)
    qtbot.waitUntil(lambda: view.panel.campaign is not None, timeout=5000)
    assert view.panel.campaign.status is _C.COMPLETED
    assert visible_actions(view) == {"duplicate", "export"}
    assert view.panel.failures.rowCount() == 0


# --- the state machine of the buttons ---------------------------------------------------


async def ledger(services: Services, cid: int, states: list[MessageState]) -> None:
    """Put rows in ``states`` straight into the store (a campaign mid-way, without sending)."""
    repo, worker = services.campaigns.repo, services.worker
    planned = [
        PlannedMessage(
            contact_id=None, phone_e164=phone(500 + n), route=Route.TEMPLATE, variables={}
        )
        for n in range(len(states))
    ]
    await worker.run(lambda: repo.begin_sending(cid, planned, cause="test", detail=""))
    claimed = await worker.run(lambda: repo.claim(cid, limit=len(states)))
    outcomes = [
        SendOutcome(
            message_id=m.id or 0,
            state=state,
            provider_message_id=f"wamid.{m.id}",
            error_code="131026" if state is MessageState.FAILED else None,
        )
        for m, state in zip(claimed, states, strict=True)
        if state is not MessageState.SENDING
    ]
    await worker.run(repo.record_results, outcomes)


def test_actions_follow_the_state_machine(
    view: CampaignsView, services: Services, run: Any, qtbot: QtBot, monkeypatch: Any
) -> None:
    _, group_id, template_id = run(audience(services, 1))
    cid = run(draft(services, "Machine", group_id, template_id))
    qtbot.waitUntil(view.open_campaign(cid).done, timeout=5000)
    assert visible_actions(view) == {"start", "duplicate"}
    # Sending, with the engine not running it (rows put in by hand).
    run(ledger(services, cid, [MessageState.SENT, MessageState.UNKNOWN, MessageState.FAILED]))
    run(view.panel.refresh())
    assert view.panel.campaign.status is _C.SENDING
    assert visible_actions(view) == {"pause", "export"}
    assert "messages/min" in view.panel.progress_label.text()

    qtbot.mouseClick(view.panel.buttons["pause"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.panel.campaign.status is _C.PAUSED, timeout=5000)
    assert visible_actions(view) == {"resume", "cancel", "export"}
    assert not view.panel.buttons["pause"].isVisibleTo(view.panel)

    # Resolve the unknown recipient: select it, mark as sent.
    view.panel.filter_by(MessageState.UNKNOWN.value)
    qtbot.waitUntil(lambda: view.panel.model.rowCount() == 1, timeout=5000)
    assert view.panel.mark_sent.isVisibleTo(view.panel)
    assert not view.panel.mark_sent.isEnabled()
    view.panel.table.selectRow(0)
    assert view.panel.mark_sent.isEnabled() and view.panel.send_again.isEnabled()
    qtbot.mouseClick(view.panel.mark_sent, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: counts(view).get("unknown", 0) == 0, timeout=5000)
    assert counts(view)["sent"] == 2

    monkeypatch.setattr(view.panel, "confirm", lambda *_a: True)
    qtbot.mouseClick(view.panel.buttons["cancel"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.panel.campaign.status is _C.CANCELLED, timeout=5000)
    # Cancelled: the state machine allows nothing back; duplicate and export remain.
    assert visible_actions(view) == {"duplicate", "export"}
    qtbot.mouseClick(view.panel.buttons["duplicate"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.panel.campaign.id != cid, timeout=5000)
    assert view.panel.campaign.status is _C.DRAFT
    assert view.panel.campaign.name == "Machine (copy)"


def test_actions_table_matches_the_state_machine() -> None:
    for status in ACTIONS["pause"]:
        assert _C.PAUSED in CAMPAIGN_TRANSITIONS[status]
    for status in ACTIONS["resume"]:
        assert _C.SENDING in CAMPAIGN_TRANSITIONS[status]
    for status in ACTIONS["cancel"]:
        assert _C.CANCELLED in CAMPAIGN_TRANSITIONS[status]
    for status in ACTIONS["retry"]:
        assert _C.SENDING in CAMPAIGN_TRANSITIONS[status]


def test_recipients_model_filters_in_sql(services: Services, run: Any, qtmodeltester: Any) -> None:
    run(services.start_network())
    _, group_id, template_id = run(audience(services, 1))
    cid = run(draft(services, "Rows", group_id, template_id))
    states = [MessageState.SENT] * 3 + [MessageState.FAILED] * 2 + [MessageState.SENDING]
    run(ledger(services, cid, states))
    model = RecipientsModel(services.campaigns.repo, services.worker)
    run(model.refresh(cid))
    assert model.rowCount() == 6
    run(model.refresh(states=["failed"]))
    assert model.rowCount() == 2
    assert Counter(model.data(model.index(r, 2)) for r in range(2)) == {"Failed": 2}
    run(model.refresh(states=["failed", "sending"]))
    assert model.rowCount() == 3
    qtmodeltester.check(model)


# --- export ------------------------------------------------------------------------------


def test_export_from_the_view_writes_one_row_per_recipient(
    view: CampaignsView, services: Services, run: Any, qtbot: QtBot, tmp_path: Path
) -> None:
    _, group_id, template_id = run(audience(services, 1))
    cid = run(draft(services, "=cmd", group_id, template_id))
    run(ledger(services, cid, [MessageState.SENT, MessageState.FAILED]))
    qtbot.waitUntil(view.open_campaign(cid).done, timeout=5000)
    target = tmp_path / "results.csv"
    task = view.panel.export(target)
    assert task is not None
    qtbot.waitUntil(task.done, timeout=5000)
    lines = target.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 3  # header + one per recipient
    assert "131026" in lines[2]
