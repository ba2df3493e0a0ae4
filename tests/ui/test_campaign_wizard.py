"""The campaign wizard, driven through its widgets against the in-process Sandbox account
and its synced templates, on a real store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDateTime, Qt
from pytestqt.qtbot import QtBot

from waapp.app import Services
from waapp.core.entities import AccountKind, Contact, MissedSchedulePolicy, WindowPolicy
from waapp.core.errors import WaappError
from waapp.core.states import CampaignStatus
from waapp.ui.campaigns.wizard import (
    AUDIENCE,
    CONFIRM,
    FIXED,
    MESSAGE,
    PREFLIGHT,
    SCHEDULE,
    CampaignWizard,
)

SHOTS = Path(__file__).resolve().parents[2] / "shots"


def phone(i: int) -> str:
    return f"+1415{5550000 + i:07d}"


@pytest.fixture
def wizard(services: Services, qtbot: QtBot, run: Any) -> Iterator[CampaignWizard]:
    run(services.start_network())
    account = run(services.accounts.list())[0]
    run(services.templates.sync(account.id))
    people = [
        Contact(phone_e164=phone(i), name=f"Person {i}", fields={"order": f"#{i}"})
        for i in range(6)
    ] + [
        Contact(
            phone_e164=phone(50),
            name="Gone Away",
            fields={"order": "#50"},
            opted_out_at=datetime.now(UTC),
            opt_out_reason="Replied STOP",
        ),
        Contact(
            phone_e164=phone(60),
            name="Chatty",
            fields={"order": "#60"},
            last_inbound_at=datetime.now(UTC) - timedelta(hours=2),
        ),
    ]
    run(services.worker.run(services.db.contacts.add_many, people))
    group = run(services.contacts.create_group("Customers"))
    run(services.contacts.add_to_group(group.id, list(range(1, len(people) + 1))))
    run(services.contacts.create_group("Empty"))
    widget = CampaignWizard(services)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(widget.loading.done, timeout=5000)
    yield widget
    widget.reject()


def choose_group(qtbot: QtBot, wizard: CampaignWizard, name: str = "Customers") -> None:
    for row in range(wizard.group_list.count()):
        item = wizard.group_list.item(row)
        if item.text().startswith(name):
            item.setCheckState(Qt.CheckState.Checked)
    qtbot.waitUntil(lambda: wizard.audience_size is not None, timeout=5000)


def choose_template(wizard: CampaignWizard, name: str) -> None:
    for index in range(wizard.template.count()):
        if wizard.template.itemText(index).startswith(name + " "):
            wizard.template.setCurrentIndex(index)
            return
    raise AssertionError(f"{name} is not offered")


def map_to(wizard: CampaignWizard, placeholder: str, source: str, text: str = "") -> None:
    combo, line = wizard.sources[placeholder]
    combo.setCurrentIndex(combo.findData(source))
    if source == FIXED:
        line.setText(text)


def to_preflight(qtbot: QtBot, wizard: CampaignWizard) -> None:
    wizard.next_btn.click()  # → schedule
    assert wizard.pages.currentIndex() == SCHEDULE
    wizard.next_btn.click()  # → preflight
    assert wizard.pages.currentIndex() == PREFLIGHT
    qtbot.waitUntil(lambda: wizard.report is not None, timeout=5000)


def shoot(qtbot: QtBot, wizard: CampaignWizard, n: int) -> None:
    if os.environ.get("WAAPP_SHOTS"):
        qtbot.wait(100)  # let the layouts settle
        SHOTS.mkdir(exist_ok=True)
        wizard.grab().save(str(SHOTS / f"campaign-wizard-{n}.png"))


def test_walk_to_a_started_campaign_that_completes(
    wizard: CampaignWizard, services: Services, qtbot: QtBot, run: Any
) -> None:
    assert wizard.pages.currentIndex() == AUDIENCE
    assert not wizard.next_btn.isEnabled()  # no group chosen yet
    choose_group(qtbot, wizard)
    shoot(qtbot, wizard, 1)
    wizard.next_btn.click()
    assert wizard.pages.currentIndex() == MESSAGE
    choose_template(wizard, "order_update")
    assert "Approved" in wizard.template_status.text()
    assert list(wizard.sources) == ["1", "2"]
    map_to(wizard, "1", "first_name")
    map_to(wizard, "2", "order")
    qtbot.waitUntil(lambda: wizard.preview_contact.count() > 0, timeout=5000)
    wizard.preview_contact.setCurrentIndex(
        next(
            i
            for i in range(wizard.preview_contact.count())
            if wizard.preview_contact.itemText(i).startswith("Person 2 ")
        )
    )
    assert wizard.template_preview.text() == "Hi Person, your order #2 is on its way."
    shoot(qtbot, wizard, 2)
    wizard.next_btn.click()
    wizard.rate.setValue(50.0)
    assert "default is 80 per second" in wizard.rate_hint.text()
    shoot(qtbot, wizard, 3)
    wizard.next_btn.click()
    qtbot.waitUntil(lambda: wizard.report is not None, timeout=5000)
    report = wizard.report
    assert report is not None and report.ok
    assert report.to_send == 7 and report.opted_out.count == 1
    assert "7 people get a message" in wizard.headline.text()
    assert wizard.lists.topLevelItem(0).text(0) == "Opted out: skipped (1)"
    assert wizard.next_btn.isEnabled()

    wizard.test_phone.setText(phone(99))
    wizard.test_btn.click()
    qtbot.waitUntil(lambda: wizard.test_result.text().startswith("Sent"), timeout=5000)
    assert "Hi Person, your order #0 is on its way." in wizard.test_result.text()
    shoot(qtbot, wizard, 4)

    wizard.next_btn.click()
    assert wizard.pages.currentIndex() == CONFIRM
    assert wizard.next_btn.text() == "Start sending"
    assert "7 recipients" in wizard.summary.text()
    shoot(qtbot, wizard, 5)
    wizard.next_btn.click()
    qtbot.waitUntil(lambda: wizard.campaign is not None, timeout=5000)
    campaign = wizard.campaign
    assert campaign is not None and campaign.id is not None
    assert wizard.result() == wizard.DialogCode.Accepted
    finished = run(services.campaigns.wait(campaign.id), timeout=20_000)
    assert finished.status is CampaignStatus.COMPLETED
    shown = run(services.campaigns.show(campaign.id))
    assert shown.counts.get("skipped") == 1
    assert finished.pacing == {"rate": 50.0}
    sandbox = services.sandbox
    assert sandbox is not None
    assert len({m["to"] for m in sandbox.messages()}) == 8  # 7 and the test


def test_a_pending_template_blocks(wizard: CampaignWizard, qtbot: QtBot) -> None:
    choose_group(qtbot, wizard)
    wizard.next_btn.click()
    choose_template(wizard, "spring_sale")
    assert "Waiting for WhatsApp's approval" in wizard.template_status.text()
    map_to(wizard, "1", FIXED, "tomorrow")
    map_to(wizard, "2", FIXED, "20%")
    to_preflight(qtbot, wizard)
    assert wizard.report is not None and not wizard.report.ok
    assert "spring_sale" in wizard.blocking.text() and "PENDING" in wizard.blocking.text()
    assert wizard.blocking.isVisible()
    assert "cannot be sent yet" in wizard.headline.text()
    assert not wizard.next_btn.isEnabled()


def test_an_unmapped_placeholder_blocks_confirm(wizard: CampaignWizard, qtbot: QtBot) -> None:
    choose_group(qtbot, wizard)
    wizard.next_btn.click()
    choose_template(wizard, "order_update")
    map_to(wizard, "1", "first_name")
    assert "{{2}} is not mapped" in wizard.preview_problems.text()
    to_preflight(qtbot, wizard)
    assert wizard.report is not None and wizard.report.unmapped == ("2",)
    assert "{{2}} has no value" in wizard.blocking.text()
    assert not wizard.next_btn.isEnabled()
    # Fixing it on the message page and coming back: Confirm is on.
    wizard.back_btn.click()
    wizard.back_btn.click()
    map_to(wizard, "2", FIXED, "#42")
    to_preflight(qtbot, wizard)
    assert wizard.report is not None and wizard.report.ok
    assert wizard.next_btn.isEnabled()


def test_the_audience_follows_the_opted_out_box(wizard: CampaignWizard, qtbot: QtBot) -> None:
    assert wizard.exclude.isChecked()
    choose_group(qtbot, wizard)
    assert wizard.audience_label.text() == ("Audience: 7 contacts (1 opted-out contact left out).")
    wizard.exclude.setChecked(False)
    qtbot.waitUntil(lambda: wizard.audience_size == 8, timeout=5000)
    assert wizard.audience_label.text() == "Audience: 8 contacts, 1 of whom has opted out."
    wizard.exclude.setChecked(True)
    qtbot.waitUntil(lambda: wizard.audience_size == 7, timeout=5000)


def test_free_form_in_the_window_and_the_routing_shown(
    wizard: CampaignWizard, services: Services, qtbot: QtBot, run: Any
) -> None:
    run(
        services.templates.save_freeform(
            template_id=None, name="hello", body="Hello {{first_name}}!"
        )
    )
    run(wizard._load_templates())
    choose_group(qtbot, wizard)
    wizard.next_btn.click()
    choose_template(wizard, "order_update")
    wizard.freeform.setCurrentIndex(wizard.freeform.findText("hello"))
    assert wizard.policy.isEnabled()
    assert wizard.window_policy().value == "freeform_in_window"
    assert list(wizard.sources) == ["1", "2", "first_name"]
    assert wizard.sources["first_name"][0].currentData() == "first_name"  # by its name
    map_to(wizard, "1", "first_name")
    map_to(wizard, "2", "order")
    to_preflight(qtbot, wizard)
    report = wizard.report
    assert report is not None and report.ok
    assert (report.in_window, report.out_of_window) == (1, 6)
    assert (report.freeform, report.template) == (1, 6)
    assert "1 recipient inside the 24-hour window get the free-form" in wizard.numbers.text()


# --- scheduling, pace and edit mode -------------------------------------------------------


def look(widget: Any, name: str) -> None:
    """With WAAPP_LOOK=dir, save what the widget looks like (for a person to check)."""
    folder = os.environ.get("WAAPP_LOOK")
    if folder:
        from PySide6.QtWidgets import QApplication

        for _ in range(3):  # let the layouts settle
            QApplication.processEvents()
        Path(folder).mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(Path(folder) / f"{name}.png"))


def to_schedule(qtbot: QtBot, wizard: CampaignWizard) -> None:
    choose_group(qtbot, wizard)
    wizard.next_btn.click()
    choose_template(wizard, "order_update")
    map_to(wizard, "1", "first_name")
    map_to(wizard, "2", "order")
    wizard.next_btn.click()
    assert wizard.pages.currentIndex() == SCHEDULE


def in_two_days_at_nine() -> datetime:
    day = datetime.now().astimezone() + timedelta(days=2)
    return day.replace(hour=9, minute=0, second=0, microsecond=0)


def test_schedule_for_later_creates_a_scheduled_campaign(
    wizard: CampaignWizard, services: Services, qtbot: QtBot, run: Any
) -> None:
    to_schedule(qtbot, wizard)
    assert wizard.now_radio.isChecked() and not wizard.at.isEnabled()
    wizard.later_radio.setChecked(True)
    assert wizard.at.isEnabled() and wizard.missed.isEnabled()
    at = in_two_days_at_nine()
    wizard.at.setDateTime(QDateTime(at.replace(tzinfo=None)))
    assert wizard.missed.currentData() == MissedSchedulePolicy.ASK
    assert wizard.missed_hours.isHidden()  # only for "skip if later than"
    wizard.missed.setCurrentIndex(wizard.missed.findData(MissedSchedulePolicy.SKIP_IF_LATE))
    assert not wizard.missed_hours.isHidden()
    wizard.missed_hours.setValue(3)
    # A Meta-dialect account: no gateway pacing, its default pace in the summary.
    assert wizard.jitter_row.isHidden() and wizard.warmup.isHidden() and wizard.cap_row.isHidden()
    assert wizard.pace_summary.text() == "Pace: 80 per second."
    look(wizard, "c_schedule_meta")

    wizard.next_btn.click()
    qtbot.waitUntil(lambda: wizard.report is not None, timeout=5000)
    assert wizard.report is not None and wizard.report.ok
    assert wizard.report.starts_at == at
    when = f"{at:%a %d %b %Y} at 09:00"
    assert f"Sending starts {when}" in wizard.headline.text()
    assert f"<td>Starts</td><td>{when}</td>" in wizard.numbers.text()
    wizard.next_btn.click()
    assert wizard.pages.currentIndex() == CONFIRM
    assert wizard.next_btn.text() == "Schedule"
    assert (
        f"Starts: {when}. If waapp is closed then, it is sent if that is at most 3 hours "
        "late, otherwise it goes back to the drafts." in wizard.summary.text()
    )
    assert wizard.later_note.isVisibleTo(wizard)
    look(wizard, "c_confirm_later")
    wizard.next_btn.click()
    qtbot.waitUntil(lambda: wizard.campaign is not None, timeout=5000)
    campaign = wizard.campaign
    assert campaign is not None and campaign.id is not None
    assert campaign.status is CampaignStatus.SCHEDULED
    assert campaign.scheduled_at == at.astimezone(UTC)
    assert campaign.missed_schedule_policy is MissedSchedulePolicy.SKIP_IF_LATE
    assert campaign.missed_after_hours == 3
    assert campaign.pacing == {}  # nothing changed from the account's pace
    assert services.sandbox is not None and services.sandbox.messages() == []  # not yet


def test_a_time_in_the_past_is_refused_on_the_schedule_page(
    wizard: CampaignWizard, qtbot: QtBot
) -> None:
    to_schedule(qtbot, wizard)
    wizard.later_radio.setChecked(True)
    wizard.at.setDateTime(QDateTime.currentDateTime().addSecs(-3600))
    wizard.next_btn.click()
    assert wizard.pages.currentIndex() == SCHEDULE
    assert wizard.error.isVisibleTo(wizard)
    assert "in the future" in wizard.error.text()
    wizard.now_radio.setChecked(True)
    wizard.next_btn.click()
    assert wizard.pages.currentIndex() == PREFLIGHT


def test_a_gateway_account_gets_the_gateway_pacing_controls(
    wizard: CampaignWizard, services: Services, qtbot: QtBot, run: Any
) -> None:
    run(
        services.accounts.add(
            kind=AccountKind.WASENDER,
            name="Shop phone",
            settings={},
            secrets={"api_key": "ws-key", "webhook_secret": "ws-hook"},
        )
    )
    run(services.templates.save_freeform(template_id=None, name="hello", body="Hello!"))
    run(wizard.load())
    wizard.account.setCurrentIndex(wizard.account.findText("Shop phone"))
    qtbot.waitUntil(lambda: wizard.freeform.findText("hello") > 0, timeout=5000)
    choose_group(qtbot, wizard)
    wizard.next_btn.click()
    wizard.template.setCurrentIndex(0)  # no approved template: WaSender sends free-form
    wizard.freeform.setCurrentIndex(wizard.freeform.findText("hello"))
    # WhatsApp Web has no 24-hour window: the free-form message goes to everyone.
    assert "no 24-hour window" in wizard.freeform_preview_title.text()
    wizard.next_btn.click()
    assert wizard.pages.currentIndex() == SCHEDULE
    # The account's defaults, pre-filled, and described.
    assert not wizard.jitter_row.isHidden() and not wizard.warmup.isHidden()
    assert (wizard.jitter_min.value(), wizard.jitter_max.value()) == (2.0, 10.0)
    assert wizard.hourly_cap.value() == 120
    assert wizard.warmup.isChecked()
    assert wizard.pace_summary.text() == (
        "Pace: one every 5 seconds, plus a random 2–10 s wait, at most 120 an hour, "
        "warm-up for a new number."
    )
    assert "one every 5 seconds" in wizard.rate_hint.text()
    assert wizard.draft().pacing() == {}
    look(wizard, "c_schedule_wasender")
    # Only what the user changes is kept.
    wizard.jitter_max.setValue(20)
    wizard.warmup.setChecked(False)
    assert wizard.draft().pacing() == {"jitter": [2.0, 20.0], "warmup": False}
    assert wizard.pace_summary.text() == (
        "Pace: one every 5 seconds, plus a random 2–20 s wait, at most 120 an hour."
    )
    wizard.next_btn.click()
    qtbot.waitUntil(lambda: wizard.report is not None, timeout=5000)
    assert "plus a random 2–20 s wait" in wizard.numbers.text()
    # Back to the Sandbox (Meta dialect): the gateway controls go, and nothing of them stays.
    for _ in range(3):
        wizard.back_btn.click()
    wizard.account.setCurrentIndex(wizard.account.findText("Sandbox", Qt.MatchFlag.MatchStartsWith))
    wizard.next_btn.click()
    wizard.next_btn.click()
    assert wizard.pages.currentIndex() == SCHEDULE
    assert wizard.jitter_row.isHidden()
    assert wizard.draft().pacing() == {}


def test_edit_mode_opens_filled_in_and_saves_the_draft(
    services: Services, qtbot: QtBot, run: Any, wizard: CampaignWizard
) -> None:
    wizard.reject()  # this test opens its own, in edit mode
    account = run(services.accounts.list())[0]
    templates = run(services.templates.list(account.id))
    order = next(t for t in templates if t.name == "order_update")
    hello = run(
        services.templates.save_freeform(
            template_id=None, name="hello", body="Hello {{first_name}}!"
        )
    )
    group = next(g for g in run(services.contacts.groups()) if g.name == "Customers")
    created = run(
        services.campaigns.create(
            name="Spring offer",
            account_id=account.id,
            group_ids=[group.id],
            template_id=order.id,
            freeform_template_id=hello.id,
            variable_mapping={
                "1": {"field": "first_name"},
                "2": {"text": "#42"},
                "first_name": {"field": "name"},
            },
            window_policy=WindowPolicy.TEMPLATE_ONLY,
            exclude_opted_out=False,
            pacing={"rate": 20.0},
        )
    )
    edit = CampaignWizard(services, editing=created)
    qtbot.addWidget(edit)
    edit.show()
    qtbot.waitUntil(edit.loading.done, timeout=5000)
    assert edit.windowTitle() == "Edit campaign “Spring offer”"
    assert edit.name.text() == "Spring offer"
    assert edit.group_ids() == [group.id]
    assert not edit.exclude.isChecked()
    assert edit.save_btn.isVisible()
    edit.next_btn.click()
    assert edit._chosen(edit.template) == order
    assert edit._chosen(edit.freeform) is not None and edit.freeform.currentText() == "hello"
    assert edit.window_policy() is WindowPolicy.TEMPLATE_ONLY
    assert {n: s.to_dict() for n, s in edit.mapping().items()} == created.variable_mapping
    look(edit, "c_edit_message")
    edit.next_btn.click()
    assert edit.rate.value() == 20.0
    assert edit.now_radio.isChecked()

    edit.name.setText("Spring offer (final)")
    map_to(edit, "2", FIXED, "#43")
    edit.save_btn.click()
    qtbot.waitUntil(lambda: edit.campaign is not None, timeout=5000)
    assert edit.result() == edit.DialogCode.Accepted
    saved = run(services.campaigns.show(created.id))
    assert saved.campaign.status is CampaignStatus.DRAFT
    assert saved.campaign.name == "Spring offer (final)"
    assert saved.campaign.variable_mapping["2"] == {"text": "#43"}
    assert saved.campaign.pacing == {"rate": 20.0}
    assert saved.timeline[-1].detail == "edited"
    assert len(run(services.campaigns.list())) == 1  # the same campaign, not a new one


@pytest.mark.parametrize("later", [False, True], ids=["start", "schedule"])
def test_a_failed_start_or_schedule_then_a_second_press_makes_one_campaign(
    wizard: CampaignWizard,
    services: Services,
    qtbot: QtBot,
    run: Any,
    monkeypatch: pytest.MonkeyPatch,
    later: bool,
) -> None:
    to_schedule(qtbot, wizard)
    if later:
        wizard.later_radio.setChecked(True)
        wizard.at.setDateTime(QDateTime(in_two_days_at_nine().replace(tzinfo=None)))
    wizard.next_btn.click()
    qtbot.waitUntil(lambda: wizard.report is not None, timeout=5000)
    wizard.next_btn.click()
    assert wizard.pages.currentIndex() == CONFIRM
    action = "schedule" if later else "start"
    real = getattr(services.campaigns, action)
    calls: list[int] = []

    async def fails_once(campaign_id: int, *args: Any, **kwargs: Any) -> Any:
        calls.append(campaign_id)
        if len(calls) == 1:
            raise WaappError("The provider did not answer.", what_to_do="Try again.")
        return await real(campaign_id, *args, **kwargs)

    monkeypatch.setattr(services.campaigns, action, fails_once)
    wizard.next_btn.click()
    qtbot.waitUntil(lambda: wizard.error.isVisibleTo(wizard), timeout=5000)
    assert wizard.error.text() == "The provider did not answer. Try again."
    assert wizard.campaign is None and wizard.result() != wizard.DialogCode.Accepted
    saved = run(services.campaigns.list())
    assert [c.status for c in saved] == [CampaignStatus.DRAFT]  # saved before the failure
    assert wizard.editing is not None and wizard.editing.id == saved[0].id

    assert wizard.next_btn.isEnabled()
    wizard.next_btn.click()  # again: the same campaign, not a second draft
    qtbot.waitUntil(lambda: wizard.campaign is not None, timeout=5000)
    assert calls == [saved[0].id, saved[0].id]
    campaigns = run(services.campaigns.list())
    assert [c.id for c in campaigns] == [saved[0].id]
    expected = CampaignStatus.SCHEDULED if later else CampaignStatus.SENDING
    assert wizard.campaign is not None and wizard.campaign.status is expected
    if not later:
        run(services.campaigns.wait(saved[0].id), timeout=20_000)
