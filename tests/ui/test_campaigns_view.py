"""The Campaigns screen and the campaign view, driven through their widgets on a real store
with the in-process Sandbox."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDateTime, Qt
from pytestqt.qtbot import QtBot

from tests.services.campaigns.harness import FAST, phone
from tests.ui.test_campaign_wizard import look
from waapp.app import Services
from waapp.core.entities import (
    AccountKind,
    Campaign,
    Contact,
    MissedSchedulePolicy,
    Route,
    Template,
    TemplateKind,
)
from waapp.core.ports import ContactQuery
from waapp.core.states import CAMPAIGN_TRANSITIONS, CampaignStatus, MessageState
from waapp.store.campaigns import PlannedMessage, SendOutcome
from waapp.ui.bridge import Bridge
from waapp.ui.campaigns.list_model import (
    PROGRESS_COLUMN,
    PROGRESS_ROLE,
    STATUS_COLUMN,
    CampaignsModel,
)
from waapp.ui.campaigns.panel import ACTIONS
from waapp.ui.campaigns.recipients_model import RecipientsModel
from waapp.ui.campaigns.view import CampaignsView
from waapp.ui.campaigns.wizard import SCHEDULE, CampaignWizard
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


DRAFT_ACTIONS = {"edit", "schedule", "start", "delete", "duplicate"}


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
    assert visible_actions(view) == DRAFT_ACTIONS

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
    assert visible_actions(view) == DRAFT_ACTIONS
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
    for status in ACTIONS["schedule"]:
        assert _C.SCHEDULED in CAMPAIGN_TRANSITIONS[status]
    for status in ACTIONS["edit"] - {_C.DRAFT}:
        assert _C.DRAFT in CAMPAIGN_TRANSITIONS[status]  # back to draft to edit
    # Start: a draft passes through scheduled (begin_sending), a scheduled one goes on.
    assert ACTIONS["start"] == {_C.DRAFT, _C.SCHEDULED}
    assert _C.SENDING in CAMPAIGN_TRANSITIONS[_C.SCHEDULED]
    assert ACTIONS["delete"] == {_C.DRAFT}  # anything that was scheduled or sent keeps history


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


# --- scheduled campaigns, editing, deleting ----------------------------------------------


def in_two_days_at_nine() -> datetime:
    day = datetime.now().astimezone() + timedelta(days=2)
    return day.replace(hour=9, minute=0, second=0, microsecond=0)


async def timeline(services: Services, cid: int) -> list[str]:
    return [e.detail for e in (await services.campaigns.show(cid)).timeline]


async def status_of(services: Services, cid: int) -> CampaignStatus:
    return (await services.campaigns.show(cid)).campaign.status


def test_a_scheduled_campaign_shows_its_time_and_its_actions(
    view: CampaignsView, services: Services, run: Any, qtbot: QtBot
) -> None:
    _, group_id, template_id = run(audience(services, 3))
    cid = run(draft(services, "Weekend offer", group_id, template_id))
    at = in_two_days_at_nine()
    run(services.campaigns.schedule(cid, at, missed_policy=MissedSchedulePolicy.SEND_ANYWAY))
    qtbot.waitUntil(lambda: statuses(view).get("Weekend offer") == "Scheduled", timeout=5000)
    m = view.model
    row = m.row_of(cid)
    assert row is not None
    when = f"{at:%a %d %b %Y} at 09:00"
    assert m.data(m.index(row, PROGRESS_COLUMN)) == f"Starts {at:%d %b} 09:00"
    assert m.data(m.index(row, PROGRESS_COLUMN), Qt.ItemDataRole.ToolTipRole) == f"Starts {when}"
    assert m.data(m.index(row, PROGRESS_COLUMN), PROGRESS_ROLE) is None  # no empty bar

    qtbot.waitUntil(view.open_campaign(cid).done, timeout=5000)
    assert visible_actions(view) == {"edit", "start", "cancel"}
    assert view.panel.buttons["start"].text() == "Start now"
    assert view.panel.progress_label.text() == (
        f"Scheduled for {when}. If waapp is closed then, it is sent as soon as waapp opens."
    )
    assert not view.panel.ask_box.isVisibleTo(view.panel)
    look(view, "c_view_scheduled")
    view.show_list()
    look(view, "c_list_scheduled")
    qtbot.waitUntil(view.open_campaign(cid).done, timeout=5000)
    qtbot.mouseClick(view.panel.buttons["start"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: view.panel.campaign is not None and view.panel.campaign.status is _C.COMPLETED,
        timeout=20_000,
    )


def test_a_missed_schedule_with_ask_waits_for_the_users_choice(
    view: CampaignsView, services: Services, run: Any, qtbot: QtBot
) -> None:
    _, group_id, template_id = run(audience(services, 2))
    cid = run(draft(services, "Missed", group_id, template_id))
    missed = datetime.now(UTC) - timedelta(hours=3)
    run(services.campaigns.schedule(cid, missed, missed_policy=MissedSchedulePolicy.ASK))
    assert services.scheduler is not None
    run(services.scheduler.tick())  # what waapp does when it opens: the time has passed
    assert run(status_of(services, cid)) is _C.SCHEDULED
    qtbot.waitUntil(view.open_campaign(cid).done, timeout=5000)
    panel = view.panel
    assert panel.ask_box.isVisibleTo(panel)
    assert "but waapp was closed then. Send it now?" in panel.ask_label.text()
    look(view, "c_view_missed_ask")

    # "Don't send": back to draft, with the reason on the timeline.
    qtbot.mouseClick(panel.dont_send_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.campaign.status is _C.DRAFT, timeout=5000)
    assert not panel.ask_box.isVisibleTo(panel)
    assert "you chose not to send it" in run(timeline(services, cid))[-1]
    assert visible_actions(view) == DRAFT_ACTIONS

    # Scheduled again and missed again: "Send now" sends it.
    run(services.campaigns.schedule(cid, missed, missed_policy=MissedSchedulePolicy.ASK))
    run(services.scheduler.tick())
    run(panel.refresh())
    assert panel.ask_box.isVisibleTo(panel)
    qtbot.mouseClick(panel.send_now_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.campaign.status is _C.COMPLETED, timeout=20_000)
    assert any("you chose to send it now" in d for d in run(timeline(services, cid)))
    assert services.sandbox is not None and len(services.sandbox.messages()) == 2


def open_edit(qtbot: QtBot, view: CampaignsView, button: str = "edit") -> CampaignWizard:
    qtbot.mouseClick(view.panel.buttons[button], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.panel.wizard is not None, timeout=5000)
    wizard = view.panel.wizard
    assert isinstance(wizard, CampaignWizard)
    qtbot.waitUntil(wizard.loading.done, timeout=5000)
    return wizard


def test_editing_a_scheduled_campaign_changes_nothing_until_it_is_saved(
    view: CampaignsView, services: Services, run: Any, qtbot: QtBot
) -> None:
    _, group_id, template_id = run(audience(services, 2))
    cid = run(draft(services, "Later", group_id, template_id))
    at = in_two_days_at_nine()
    run(
        services.campaigns.schedule(
            cid, at, missed_policy=MissedSchedulePolicy.SKIP_IF_LATE, missed_after_hours=2
        )
    )
    qtbot.waitUntil(view.open_campaign(cid).done, timeout=5000)
    before = run(services.campaigns.show(cid))

    wizard = open_edit(qtbot, view)
    # Still scheduled while it is edited (a crash now loses nothing), nothing on its timeline.
    assert run(status_of(services, cid)) is _C.SCHEDULED
    assert run(timeline(services, cid)) == [e.detail for e in before.timeline]
    # The wizard holds the schedule it has.
    assert wizard.later_radio.isChecked()
    assert wizard.scheduled_at() == at
    assert wizard.missed.currentData() == MissedSchedulePolicy.SKIP_IF_LATE
    assert wizard.missed_hours.value() == 2
    assert wizard.save_btn.text() == "Save changes"
    wizard.name.setText("Something else")
    wizard.reject()  # abandoned: exactly as it was
    qtbot.waitUntil(lambda: view.panel.wizard is None, timeout=5000)
    after = run(services.campaigns.show(cid))
    assert after.campaign == before.campaign
    assert after.timeline == before.timeline

    # Edited to the end: saved at the new time in one go, still scheduled.
    wizard = open_edit(qtbot, view)
    wizard.name.setText("Later, changed")
    wizard.next_btn.click()  # → message
    wizard.next_btn.click()  # → schedule
    later = at + timedelta(days=1)
    wizard.at.setDateTime(QDateTime(later.replace(tzinfo=None)))
    wizard.next_btn.click()  # → preflight
    qtbot.waitUntil(lambda: wizard.report is not None, timeout=5000)
    wizard.next_btn.click()  # → confirm
    assert wizard.next_btn.text() == "Schedule"
    wizard.next_btn.click()
    qtbot.waitUntil(lambda: view.panel.wizard is None, timeout=5000)
    qtbot.waitUntil(lambda: view.panel.campaign.name == "Later, changed", timeout=5000)
    campaign = run(services.campaigns.show(cid)).campaign
    assert campaign.status is _C.SCHEDULED
    assert campaign.scheduled_at == later.astimezone(UTC)
    assert campaign.missed_schedule_policy is MissedSchedulePolicy.SKIP_IF_LATE
    notes = run(timeline(services, cid))
    assert notes[:-1] == [e.detail for e in before.timeline]  # one entry more
    assert notes[-1].startswith("edited; now scheduled for")
    assert len(run(services.campaigns.list())) == 1

    # "Save changes" from the first step: the new name, the same time, one note "edited".
    wizard = open_edit(qtbot, view)
    wizard.name.setText("Later, renamed")
    qtbot.waitUntil(wizard.save_btn.isEnabled, timeout=5000)
    wizard.save_btn.click()
    qtbot.waitUntil(lambda: view.panel.wizard is None, timeout=5000)
    campaign = run(services.campaigns.show(cid)).campaign
    assert campaign.status is _C.SCHEDULED and campaign.name == "Later, renamed"
    assert campaign.scheduled_at == later.astimezone(UTC)
    assert run(timeline(services, cid))[-1] == "edited"


def test_a_draft_is_scheduled_from_the_view_and_deleted(
    view: CampaignsView, services: Services, run: Any, qtbot: QtBot, monkeypatch: Any
) -> None:
    _, group_id, template_id = run(audience(services, 2))
    cid = run(draft(services, "Draft one", group_id, template_id))
    qtbot.waitUntil(view.open_campaign(cid).done, timeout=5000)
    wizard = open_edit(qtbot, view, "schedule")
    assert wizard.pages.currentIndex() == SCHEDULE and wizard.later_radio.isChecked()
    wizard.reject()  # a draft stays a draft
    qtbot.waitUntil(lambda: view.panel.wizard is None, timeout=5000)
    assert run(status_of(services, cid)) is _C.DRAFT

    monkeypatch.setattr(view.panel, "confirm", lambda *_a: False)
    view.panel.buttons["delete"].click()
    assert run(status_of(services, cid)) is _C.DRAFT  # not confirmed: kept
    monkeypatch.setattr(view.panel, "confirm", lambda *_a: True)
    view.panel.buttons["delete"].click()
    qtbot.waitUntil(lambda: view.stack.currentIndex() == 0, timeout=5000)
    qtbot.waitUntil(lambda: "Draft one" not in statuses(view), timeout=5000)
    assert run(services.campaigns.list()) == []
