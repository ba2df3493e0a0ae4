"""The campaign wizard: audience → message → schedule and pace → preflight → confirm.

Nothing is written before the last step: the preflight (``services.campaigns.preflight``)
shows what the campaign will do, its blocking problems keep Confirm off, and the last
button creates the campaign and starts it ("Start sending") or schedules it ("Schedule":
the scheduler starts it at its time). A test send goes to one number at any time from the
preflight page.

In edit mode (``editing=``) the wizard opens pre-filled from a draft or a scheduled
campaign and saves it with ``CampaignService.update``: "Save draft" ("Save changes" for a
scheduled one, which stays scheduled at the time of the schedule step) at any step, or at
the end with the start or the schedule. Nothing is written before that: a scheduled
campaign stays scheduled while it is edited, and cancelling the wizard changes nothing.
Once saved, the wizard goes on with the campaign it saved (``editing``), so pressing Start
or Schedule again after a failure never makes a second one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import QDateTime, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSpinBox,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from waapp.core.catalogue import Dialect
from waapp.core.entities import (
    Account,
    AccountKind,
    Campaign,
    Contact,
    Group,
    MissedSchedulePolicy,
    Template,
    TemplateKind,
    WindowPolicy,
)
from waapp.core.errors import WaappError
from waapp.core.phones import display_phone
from waapp.core.ports import HealthReport
from waapp.core.states import CampaignStatus
from waapp.core.templates import (
    BUILTIN_FIELDS,
    VariableSource,
    mapping_from_dict,
    parse_placeholders,
)
from waapp.core.window import window_applies
from waapp.services.campaigns.limits import Pacing
from waapp.services.campaigns.preflight import (
    CampaignDraft,
    PeopleList,
    PreflightReport,
    TestSendOutcome,
)
from waapp.services.diagnostics import dialect_of_account
from waapp.services.templates import SAMPLE_CONTACT, freeform_mapping, preview
from waapp.ui.campaigns.status import day_and_time, missed_words
from waapp.ui.ops import Op
from waapp.ui.theme import status_color
from waapp.ui.wizard_bar import WizardBar

__all__ = ["CampaignWizard"]

STEPS = (
    "Who gets it",
    "The message",
    "When and how fast",
    "Preflight: what will happen",
    "Confirm",
)
AUDIENCE, MESSAGE, SCHEDULE, PREFLIGHT, CONFIRM = range(5)

POLICIES = [
    (WindowPolicy.FREEFORM_IN_WINDOW, "Free-form inside the 24-hour window, template outside"),
    (WindowPolicy.TEMPLATE_ONLY, "The approved template for everyone"),
    (WindowPolicy.FREEFORM_ONLY, "Free-form only: skip who is outside the 24-hour window"),
]
MISSED = [
    (MissedSchedulePolicy.SEND_ANYWAY, "Send it as soon as waapp opens"),
    (MissedSchedulePolicy.ASK, "Ask me first"),
    (MissedSchedulePolicy.SKIP_IF_LATE, "Send it, unless it is more than"),
]
STATUS_TONES = {"APPROVED": "ok", "PENDING": "warn", "IN_APPEAL": "warn"}
QUALITY_WORDS = {"GREEN": "high", "YELLOW": "medium", "RED": "low", "UNKNOWN": "not rated yet"}
BUILTIN_LABELS = {"name": "Name", "first_name": "First name", "phone": "Phone"}
FIXED = "\0fixed"  # the "fixed text" entry of a placeholder's source combo
PREVIEW_CONTACTS = 50

SECTION_STYLE = "font-size: 14px; font-weight: 600;"
BUBBLE_STYLE = (
    "QLabel#bubble { background: palette(base); border: 1px solid palette(mid); "
    "border-radius: 8px; padding: 8px 10px; }"
)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def template_label(template: Template) -> str:
    status = template.status.upper() or "DRAFT"
    words = status.capitalize().replace("_", " ")
    quality = QUALITY_WORDS.get(template.quality.upper())
    language = f" ({template.language})" if template.language else ""
    text = f"{template.name}{language} — {words}"
    return f"{text} · quality {quality}" if quality and status == "APPROVED" else text


def _clock(at: datetime) -> str:
    local = at.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M")
    return local.strftime("%a %d %b %H:%M")


def _next_hour() -> QDateTime:
    """The default start time: the next full hour at least half an hour away."""
    at = datetime.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    if at - datetime.now() < timedelta(minutes=30):
        at += timedelta(hours=1)
    return QDateTime(at)


def _row(*widgets: QWidget) -> QWidget:
    """Widgets side by side at their natural width, for one field of a form."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    layout.addStretch(1)
    return row


def _per(rate: float) -> str:
    return f"{rate:g} per second" if rate >= 1 else f"one every {1 / rate:g} seconds"


class CampaignWizard(QDialog):
    """``services`` is :class:`waapp.app.Services`. ``last_health(account_id)`` gives the
    account's last health check, when the caller keeps one (its messaging limit shows in
    the preflight). ``editing``: the draft or scheduled campaign to edit (module doc) —
    its schedule fills the schedule page. ``page``: the step to open on,
    ``later``: "At a date and time" chosen (the campaign view's "Schedule…" opens so). When the wizard is accepted,
    ``campaign`` is the campaign as saved, started or scheduled."""

    def __init__(
        self,
        services: Any,
        *,
        last_health: Callable[[int], HealthReport | None] | None = None,
        editing: Campaign | None = None,
        page: int = 0,
        later: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.services = services
        self.last_health = last_health
        self.editing = editing
        #: The timeline says "edited" when the wizard was opened on a saved campaign.
        self.edits = editing is not None
        self.first_page = page
        self.later = later
        self.campaign: Campaign | None = None
        self.report: PreflightReport | None = None
        self.accounts: list[Account] = []
        self.groups: list[Group] = []
        self.fields: list[str] = []
        self.templates: list[Template] = []
        self.contacts: list[Contact] = []
        self.sources: dict[str, tuple[QComboBox, QLineEdit]] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.loaded = False
        self.audience_size: int | None = None
        self.setWindowTitle(
            "New campaign" if editing is None else f"Edit campaign “{editing.name}”"
        )
        self.prefill: dict[str, VariableSource] = {}
        self.resize(900, 660)
        self.setStyleSheet(BUBBLE_STYLE)

        self.pages = QStackedWidget()
        for build in (
            self._audience_page,
            self._message_page,
            self._schedule_page,
            self._preflight_page,
            self._confirm_page,
        ):
            self.pages.addWidget(build())

        buttons = WizardBar(back=self.back, next=self.next, cancel=self.reject)
        self.error, self.back_btn = buttons.error, buttons.back_btn
        self.next_btn, self.cancel_btn = buttons.next_btn, buttons.cancel_btn
        if editing is not None and editing.status is CampaignStatus.SCHEDULED:
            self.save_btn = QPushButton("Save changes")
            self.save_btn.setToolTip(
                "Keep the changes without starting it: it stays scheduled at the time of "
                "the schedule step (“as soon as I confirm” there makes it a draft again)"
            )
        else:
            self.save_btn = QPushButton("Save draft")
            self.save_btn.setToolTip("Keep the changes as a draft, without starting or scheduling")
        self.save_btn.clicked.connect(self.save_draft)
        self.save_btn.setVisible(editing is not None)
        buttons.insertWidget(buttons.indexOf(self.back_btn), self.save_btn)
        self.step = QLabel()
        self.step.setObjectName("screenTitle")
        layout = QVBoxLayout(self)
        layout.addWidget(self.step)
        layout.addWidget(self.pages, 1)
        layout.addLayout(buttons)
        self._show(AUDIENCE)
        self.loading = self._spawn(self.load())

    # --- background work -----------------------------------------------------------------

    def _spawn(
        self,
        coro: Coroutine[Any, Any, Any],
        *,
        failure: Callable[[BaseException], object] | None = None,
    ) -> asyncio.Task[Any]:
        op = Op(self, coro)
        if failure is not None:
            op.failure(failure)
        task = op.run()
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def done(self, result: int) -> None:
        for task in list(self.tasks):
            task.cancel()
        super().done(result)

    async def load(self) -> None:
        s = self.services
        self.accounts = [a for a in await s.accounts.list() if a.id is not None]
        self.groups = [g for g in await s.contacts.groups() if g.id is not None]
        self.fields = await s.contacts.field_names()
        self.account.clear()
        for account in self.accounts:
            self.account.addItem(account.name, account.id)
        self.group_list.clear()
        for group in self.groups:
            item = QListWidgetItem(
                f"{group.name}  ·  {_plural(group.member_count, 'contact', 'contacts')}"
            )
            item.setData(Qt.ItemDataRole.UserRole, group.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.group_list.addItem(item)
        self.no_groups.setVisible(not self.groups)
        if self.editing is not None:
            self._prefill_audience(CampaignDraft.of(self.editing))
        await self._load_templates()
        self.loaded = True
        if self.editing is not None:
            self._prefill_rest(CampaignDraft.of(self.editing))
        if self.later:
            self.later_radio.setChecked(True)
        if self.first_page != AUDIENCE:
            self._show(self.first_page)
        self._update_nav()

    def _prefill_audience(self, draft: CampaignDraft) -> None:
        self.name.setText(draft.name)
        index = self.account.findData(draft.account_id)
        if index >= 0:
            self.account.setCurrentIndex(index)
        self.exclude.setChecked(draft.exclude_opted_out)
        for row in range(self.group_list.count()):
            item = self.group_list.item(row)
            if int(item.data(Qt.ItemDataRole.UserRole)) in draft.group_ids:
                item.setCheckState(Qt.CheckState.Checked)
        self.prefill = mapping_from_dict(draft.variable_mapping)

    def _prefill_rest(self, draft: CampaignDraft) -> None:
        """The message, its mapping, the schedule and the pace (templates are loaded)."""
        for combo, ref in (
            (self.template, draft.template_id),
            (self.freeform, draft.freeform_template_id),
        ):
            index = combo.findData(ref)
            if index >= 0:
                combo.setCurrentIndex(index)
        if self.policy.isEnabled() and draft.window_policy is not None:
            self.policy.setCurrentIndex(self.policy.findData(draft.window_policy))
        self.prefill = {}
        if draft.scheduled_at is not None:
            self.later_radio.setChecked(True)
            self.at.setDateTime(QDateTime(draft.scheduled_at.astimezone().replace(tzinfo=None)))
        self.missed.setCurrentIndex(self.missed.findData(draft.missed_schedule_policy))
        self.missed_hours.setValue(draft.missed_after_hours)
        self._update_pace_controls()  # the account's defaults first, then the campaign's
        self.rate.setValue(draft.rate or 0.0)
        if draft.jitter is not None:
            self.jitter_min.setValue(draft.jitter[0])
            self.jitter_max.setValue(draft.jitter[1])
        if draft.hourly_cap:
            self.hourly_cap.setValue(draft.hourly_cap)
        if draft.warmup is not None:
            self.warmup.setChecked(draft.warmup)

    async def _load_templates(self) -> None:
        account_id = self.account.currentData()
        provider = self.services.accounts.providers().get(account_id)
        gateway = provider is not None and not window_applies(provider.dialect)
        self.freeform_preview_title.setText(
            "Free-form message (WhatsApp Web has no 24-hour window):"
            if gateway
            else "Free-form (inside the 24-hour window):"
        )
        self.templates = await self.services.templates.list(account_id)
        current = self.template.currentData()
        self.template.blockSignals(True)
        self.template.clear()
        self.template.addItem("No template (free-form message only)", None)
        approved = [t for t in self.templates if t.kind is TemplateKind.APPROVED]
        # Approved ones first; the others are listed so it is clear why they cannot be used.
        approved.sort(key=lambda t: (t.status.upper() != "APPROVED", t.name))
        for template in approved:
            self.template.addItem(template_label(template), template.id)
            tone = STATUS_TONES.get(template.status.upper(), "bad")
            self.template.setItemData(
                self.template.count() - 1, status_color(tone), Qt.ItemDataRole.ForegroundRole
            )
        index = self.template.findData(current)
        self.template.setCurrentIndex(index if index > 0 else min(1, self.template.count() - 1))
        self.template.blockSignals(False)
        self.freeform.blockSignals(True)
        self.freeform.clear()
        self.freeform.addItem("None", None)
        for template in self.templates:
            if template.kind is TemplateKind.FREEFORM:
                self.freeform.addItem(template.name, template.id)
        self.freeform.blockSignals(False)
        self._message_changed()

    # --- page 1: audience ----------------------------------------------------------------

    def _audience_page(self) -> QWidget:
        page = QWidget()
        self.name = QLineEdit(f"Campaign {datetime.now():%d %b %Y %H:%M}")
        self.account = QComboBox()
        self.account.currentIndexChanged.connect(self._account_changed)
        self.group_list = QListWidget()
        self.group_list.setObjectName("groups")
        self.group_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.group_list.itemChanged.connect(lambda _item: self._refresh_audience())
        self.no_groups = QLabel("No groups yet: put contacts into a group in Contacts first.")
        self.no_groups.setObjectName("hint")
        self.no_groups.hide()
        self.exclude = QCheckBox("Leave out contacts who opted out (recommended)")
        self.exclude.setChecked(True)
        self.exclude.toggled.connect(lambda _on: self._refresh_audience())
        self.audience_label = QLabel("Choose one or more groups.")
        self.audience_label.setStyleSheet(SECTION_STYLE)
        self.audience_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Campaign name", self.name)
        form.addRow("Send from", self.account)
        layout = QVBoxLayout(page)
        layout.addLayout(form)
        layout.addWidget(QLabel("Send to the contacts of these groups (each person once):"))
        layout.addWidget(self.group_list, 1)
        layout.addWidget(self.no_groups)
        layout.addWidget(self.exclude)
        layout.addWidget(self.audience_label)
        return page

    def _account_changed(self, _index: int) -> None:
        if self.loaded:  # while loading, load() fills the templates itself
            self._spawn(self._load_templates())

    def group_ids(self) -> list[int]:
        ids: list[int] = []
        for row in range(self.group_list.count()):
            item = self.group_list.item(row)
            if item.checkState() == Qt.CheckState.Checked:
                ids.append(int(item.data(Qt.ItemDataRole.UserRole)))
        return ids

    def _refresh_audience(self) -> None:
        self.audience_size = None
        self._update_nav()
        ids = self.group_ids()
        if not ids:
            self.audience_label.setText("Choose one or more groups.")
            return
        self.audience_label.setText("Counting…")
        self.counting = self._spawn(self._count(ids, self.exclude.isChecked()))

    async def _count(self, ids: list[int], exclude: bool) -> None:
        total, opted_out = await self.services.campaigns.audience_size(ids)
        if ids != self.group_ids() or exclude != self.exclude.isChecked():
            return  # the choice changed meanwhile; its own count follows
        size = total - opted_out if exclude else total
        self.audience_size = size
        text = f"Audience: {_plural(size, 'contact', 'contacts')}"
        if opted_out and exclude:
            text += f" ({_plural(opted_out, 'opted-out contact', 'opted-out contacts')} left out)"
        elif opted_out:
            text += f", {_plural(opted_out, 'of whom has', 'of whom have')} opted out"
        self.audience_label.setText(text + ".")
        self.contacts = []
        self._update_nav()

    # --- page 2: message -----------------------------------------------------------------

    def _message_page(self) -> QWidget:
        page = QWidget()
        self.template = QComboBox()
        self.template.currentIndexChanged.connect(lambda _i: self._message_changed())
        self.template_status = QLabel()
        self.template_status.setWordWrap(True)
        self.freeform = QComboBox()
        self.freeform.currentIndexChanged.connect(lambda _i: self._message_changed())
        self.policy = QComboBox()
        for policy, words in POLICIES:
            self.policy.addItem(words, policy)
        self.policy.currentIndexChanged.connect(lambda _i: self._update_policy_hint())
        self.policy_hint = QLabel()
        self.policy_hint.setObjectName("hint")
        self.policy_hint.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Approved template", self.template)
        form.addRow("", self.template_status)
        form.addRow("Free-form message (optional)", self.freeform)
        form.addRow("Who gets which", self.policy)
        form.addRow("", self.policy_hint)

        self.mapping_box = QWidget()
        self.mapping_grid = QGridLayout(self.mapping_box)
        self.mapping_grid.setContentsMargins(0, 0, 0, 0)
        self.no_placeholders = QLabel("This message has no variables.")
        self.no_placeholders.setObjectName("hint")

        self.preview_contact = QComboBox()
        self.preview_contact.currentIndexChanged.connect(lambda _i: self._update_preview())
        self.template_preview = QLabel()
        self.freeform_preview = QLabel()
        for bubble in (self.template_preview, self.freeform_preview):
            bubble.setObjectName("bubble")
            bubble.setWordWrap(True)
            bubble.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.preview_problems = QLabel()
        self.preview_problems.setWordWrap(True)
        self.preview_problems.setStyleSheet(f"color: {status_color('warn').name()};")

        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.addLayout(form)
        variables = QLabel("Variables: where each placeholder's value comes from")
        variables.setStyleSheet(SECTION_STYLE)
        layout.addWidget(variables)
        layout.addWidget(self.no_placeholders)
        layout.addWidget(self.mapping_box)
        row = QHBoxLayout()
        title = QLabel("Preview for")
        title.setStyleSheet(SECTION_STYLE)
        row.addWidget(title)
        row.addWidget(self.preview_contact, 1)
        layout.addLayout(row)
        self.template_preview_title = QLabel("Template:")
        self.freeform_preview_title = QLabel("Free-form (inside the 24-hour window):")
        layout.addWidget(self.template_preview_title)
        layout.addWidget(self.template_preview)
        layout.addWidget(self.freeform_preview_title)
        layout.addWidget(self.freeform_preview)
        layout.addWidget(self.preview_problems)
        layout.addStretch()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(inner)
        outer = QVBoxLayout(page)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        return page

    def _chosen(self, combo: QComboBox) -> Template | None:
        ref = combo.currentData()
        return next((t for t in self.templates if t.id == ref), None)

    def _message_changed(self) -> None:
        template = self._chosen(self.template)
        freeform = self._chosen(self.freeform)
        if template is None:
            self.template_status.setText("")
        else:
            status = template.status.upper()
            tone = STATUS_TONES.get(status, "bad")
            words = {
                "APPROVED": "Approved by WhatsApp: it can be sent to anyone.",
                "PENDING": "Waiting for WhatsApp's approval: it cannot be sent yet.",
            }.get(status, f"{status.capitalize() or 'Not submitted'}: it cannot be sent.")
            quality = QUALITY_WORDS.get(template.quality.upper())
            if quality and status == "APPROVED":
                words += f" Quality: {quality}."
            self.template_status.setText(words)
            self.template_status.setStyleSheet(f"color: {status_color(tone).name()};")
        both = template is not None and freeform is not None
        wanted: WindowPolicy | None = None
        if freeform is None:
            wanted = WindowPolicy.TEMPLATE_ONLY
        elif template is None:
            wanted = WindowPolicy.FREEFORM_ONLY
        elif not self.policy.isEnabled():  # a second message was just added
            wanted = WindowPolicy.FREEFORM_IN_WINDOW
        self.policy.setEnabled(both)
        if wanted is not None:
            self.policy.setCurrentIndex(self.policy.findData(wanted))
        self._update_policy_hint()
        self._rebuild_mapping(template, freeform)
        if hasattr(self, "next_btn"):
            self._update_nav()

    def _update_policy_hint(self) -> None:
        policy = self.window_policy()
        self.policy_hint.setText(
            {
                WindowPolicy.TEMPLATE_ONLY: "Everyone gets the approved template. WhatsApp "
                "accepts a template at any time.",
                WindowPolicy.FREEFORM_IN_WINDOW: "People who wrote to you in the last 24 "
                "hours get the free-form message; everyone else gets the template.",
                WindowPolicy.FREEFORM_ONLY: "Only people who wrote to you in the last 24 hours "
                "get a message; WhatsApp refuses free-form messages to anyone else.",
            }[policy]
        )
        self._update_preview()

    def window_policy(self) -> WindowPolicy:
        data = self.policy.currentData()
        return WindowPolicy(data) if data else WindowPolicy.TEMPLATE_ONLY

    def _placeholders(self, *messages: Template | None) -> list[str]:
        names: list[str] = []
        for message in messages:
            if message is None:
                continue
            try:
                names += [n for n in parse_placeholders(message.body).names if n not in names]
            except WaappError:
                continue
        return names

    def _rebuild_mapping(self, template: Template | None, freeform: Template | None) -> None:
        old = {name: self._source(name) for name in self.sources}
        while self.mapping_grid.count():
            widget = self.mapping_grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.sources = {}
        names = self._placeholders(template, freeform)
        guessed = freeform_mapping(
            parse_placeholders(" ".join("{{" + n + "}}" for n in names if not n.isdigit())),
            self.fields,
        )
        fields = [*BUILTIN_FIELDS, *[f for f in self.fields if f not in BUILTIN_FIELDS]]
        for row, name in enumerate(names):
            combo = QComboBox()
            combo.addItem("Choose where the value comes from…", None)
            for field_name in fields:
                combo.addItem(
                    f"Contact field: {BUILTIN_LABELS.get(field_name, field_name)}", field_name
                )
            combo.addItem("Fixed text, the same for everyone", FIXED)
            text = QLineEdit()
            text.setPlaceholderText("The text every recipient gets here")
            source = self.prefill.get(name) or old.get(name) or guessed.get(name)
            if source is not None and source.field is not None and combo.findData(source.field) > 0:
                combo.setCurrentIndex(combo.findData(source.field))
            elif source is not None and source.text is not None:
                combo.setCurrentIndex(combo.findData(FIXED))
                text.setText(source.text)
            text.setVisible(combo.currentData() == FIXED)
            combo.currentIndexChanged.connect(
                lambda _i, c=combo, t=text: (
                    t.setVisible(c.currentData() == FIXED),
                    self._update_preview(),
                )
            )
            text.textChanged.connect(lambda _t: self._update_preview())
            label = QLabel("{{" + name + "}}")
            label.setStyleSheet("font-family: monospace; font-weight: 600;")
            self.mapping_grid.addWidget(label, row, 0)
            self.mapping_grid.addWidget(combo, row, 1)
            self.mapping_grid.addWidget(text, row, 2)
            self.sources[name] = (combo, text)
        self.mapping_grid.setColumnStretch(1, 1)
        self.mapping_grid.setColumnStretch(2, 1)
        self.no_placeholders.setVisible(not names)
        self._update_preview()

    def _source(self, name: str) -> VariableSource | None:
        combo, text = self.sources[name]
        data = combo.currentData()
        if data is None:
            return None
        if data == FIXED:
            return VariableSource(text=text.text())
        return VariableSource(field=str(data))

    def mapping(self) -> dict[str, VariableSource]:
        return {n: s for n in self.sources if (s := self._source(n)) is not None}

    async def _load_contacts(self) -> None:
        """Contacts of the audience to preview on (the first few)."""
        ids = await self.services.contacts.ids(_query(self.group_ids()))
        contacts = await self.services.contacts.get_many(ids[:PREVIEW_CONTACTS])
        self.contacts = contacts or [SAMPLE_CONTACT]
        self.preview_contact.blockSignals(True)
        self.preview_contact.clear()
        for contact in self.contacts:
            who = contact.name or display_phone(contact.phone_e164)
            self.preview_contact.addItem(f"{who}  ·  {display_phone(contact.phone_e164)}")
        self.preview_contact.blockSignals(False)
        self._update_preview()

    def _update_preview(self) -> None:
        if not hasattr(self, "preview_problems"):
            return
        contact = (
            self.contacts[self.preview_contact.currentIndex()]
            if self.contacts and self.preview_contact.currentIndex() >= 0
            else SAMPLE_CONTACT
        )
        mapping = self.mapping()
        problems: list[str] = []
        template = self._chosen(self.template)
        freeform = self._chosen(self.freeform)
        policy = self.window_policy()
        show_template = template is not None and policy is not WindowPolicy.FREEFORM_ONLY
        show_freeform = freeform is not None and policy is not WindowPolicy.TEMPLATE_ONLY
        for message, shown, bubble, title, kind in (
            (
                template,
                show_template,
                self.template_preview,
                self.template_preview_title,
                TemplateKind.APPROVED,
            ),
            (
                freeform,
                show_freeform,
                self.freeform_preview,
                self.freeform_preview_title,
                TemplateKind.FREEFORM,
            ),
        ):
            bubble.setVisible(shown)
            title.setVisible(shown)
            if message is None or not shown:
                continue
            names = self._placeholders(message)
            seen = preview(
                message.body,
                {n: s for n, s in mapping.items() if n in names},
                contact,
                kind=kind,
                available_fields=self.fields,
            )
            bubble.setText(seen.text)
            problems += [p for p in seen.problems if p not in problems]
        self.preview_problems.setText("\n".join(f"• {p[:1].upper()}{p[1:]}" for p in problems))
        self.preview_problems.setVisible(bool(problems))

    # --- page 3: schedule and pace -------------------------------------------------------

    def _schedule_page(self) -> QWidget:
        page = QWidget()
        self.now_radio = QRadioButton("Start sending as soon as I confirm")
        self.now_radio.setChecked(True)
        self.later_radio = QRadioButton("At a date and time:")
        when = QButtonGroup(page)
        when.addButton(self.now_radio)
        when.addButton(self.later_radio)
        self.later_radio.toggled.connect(lambda _on: self._update_when())
        self.at = QDateTimeEdit(_next_hour())
        self.at.setCalendarPopup(True)
        self.at.setDisplayFormat("ddd d MMM yyyy  HH:mm")
        self.at.setMinimumWidth(200)
        self.missed = QComboBox()
        for policy, words in MISSED:
            self.missed.addItem(words, policy)
        self.missed.setCurrentIndex(self.missed.findData(MissedSchedulePolicy.ASK))
        self.missed.currentIndexChanged.connect(lambda _i: self._update_when())
        self.missed_hours = QSpinBox()
        self.missed_hours.setRange(1, 168)
        self.missed_hours.setValue(6)
        self.missed_hours.setSuffix(" hours late")
        self.missed_hint = QLabel(
            "waapp sends only while it is running (it can stay in the system tray). If it was "
            "closed at that time, this decides what happens when you open it again."
        )
        self.missed_hint.setObjectName("hint")
        self.missed_hint.setWordWrap(True)

        self.rate = QDoubleSpinBox()
        self.rate.setRange(0.0, 1000.0)
        self.rate.setDecimals(1)
        self.rate.setSingleStep(1.0)
        self.rate.setSuffix(" messages per second")
        self.rate.setSpecialValueText("The account's default")
        self.rate.setValue(0.0)
        self.rate_hint = QLabel()
        self.rate_hint.setObjectName("hint")
        self.rate_hint.setWordWrap(True)
        self.jitter_min = QDoubleSpinBox()
        self.jitter_max = QDoubleSpinBox()
        for spin in (self.jitter_min, self.jitter_max):
            spin.setRange(0.0, 600.0)
            spin.setDecimals(0)
            spin.setSuffix(" s")
        self.jitter_min.valueChanged.connect(lambda v: self.jitter_max.setMinimum(v))
        self.hourly_cap = QSpinBox()
        self.hourly_cap.setRange(1, 100_000)
        self.hourly_cap.setSingleStep(10)
        self.hourly_cap.setSuffix(" messages per hour")
        self.warmup = QCheckBox("This number is new: warm it up")
        self.warmup.setToolTip(
            "A new number messages at most 50 people on its first day, 100 from day 3, "
            "200 from day 5 and 400 from day 8; from day 15 there is no warm-up limit."
        )
        for signal in (
            self.rate.valueChanged,
            self.jitter_min.valueChanged,
            self.jitter_max.valueChanged,
            self.hourly_cap.valueChanged,
        ):
            signal.connect(lambda _v: self._update_pace_summary())
        self.warmup.toggled.connect(lambda _on: self._update_pace_summary())
        self.pace_summary = QLabel()
        self.pace_summary.setWordWrap(True)
        self.pace_summary.setStyleSheet("font-weight: 600;")
        self.gateway_note = QLabel(
            "This number sends through WhatsApp Web. WhatsApp bans numbers that send fast "
            "and regularly, so waapp waits a random time between messages and keeps to an "
            "hourly limit."
        )
        self.gateway_note.setObjectName("hint")
        self.gateway_note.setWordWrap(True)

        self.jitter_row = _row(
            self.jitter_min, QLabel("to"), self.jitter_max, QLabel("before each message")
        )
        self.cap_row = _row(self.hourly_cap)
        when_title = QLabel("When")
        when_title.setStyleSheet(SECTION_STYLE)
        pace_title = QLabel("How fast")
        pace_title.setStyleSheet(SECTION_STYLE)
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(8)
        grid.setColumnStretch(1, 1)
        self.gateway_rows: list[QWidget] = []

        def add(
            title: QWidget | str, field: QWidget | None = None, *, gateway: bool = False
        ) -> None:
            row = grid.rowCount()
            label = QLabel(title) if isinstance(title, str) else title
            if field is None:
                grid.addWidget(label, row, 0, 1, 2)
            else:
                grid.addWidget(label, row, 0)
                grid.addWidget(field, row, 1)
            if gateway:
                self.gateway_rows += [label] if field is None else [label, field]

        add(when_title)
        add("Start", self.now_radio)
        add("", _row(self.later_radio, self.at))
        add("If waapp is closed then", _row(self.missed, self.missed_hours))
        add("", self.missed_hint)
        gap = QWidget()
        gap.setFixedHeight(12)
        add(gap)
        add(pace_title)
        add("Speed", _row(self.rate))
        add("", self.rate_hint)
        add("", self.gateway_note, gateway=True)
        add("Random wait", self.jitter_row, gateway=True)
        add("Hourly limit", self.cap_row, gateway=True)
        add("", self.warmup, gateway=True)
        outer = QVBoxLayout(page)
        outer.addLayout(grid)
        outer.addSpacing(8)
        outer.addWidget(self.pace_summary)
        outer.addStretch()
        self.pace_account: int | None = None  # the account whose defaults the controls hold
        self._update_when()
        return page

    def _update_when(self) -> None:
        later = self.later_radio.isChecked()
        self.at.setEnabled(later)
        self.missed.setEnabled(later)
        self.missed_hint.setEnabled(later)
        skip = self.missed.currentData() == MissedSchedulePolicy.SKIP_IF_LATE
        self.missed_hours.setVisible(skip)
        self.missed_hours.setEnabled(later)

    def scheduled_at(self) -> datetime | None:
        """The chosen start time (aware, local zone), or None for "now"."""
        if not self.later_radio.isChecked():
            return None
        chosen: datetime = self.at.dateTime().toPython()
        return chosen.replace(second=0, microsecond=0).astimezone()

    def pacing_defaults(self) -> Pacing:
        """The chosen account's pace when the campaign sets none."""
        account_id = self.account.currentData()
        provider = self.services.accounts.providers().get(account_id)
        if provider is not None:
            return Pacing.defaults(provider.kind, provider.dialect)
        account = next((a for a in self.accounts if a.id == account_id), None)
        dialect = dialect_of_account(account) if account is not None else None
        kind = account.kind if account is not None else AccountKind.META
        return Pacing.defaults(kind, dialect or Dialect.META)

    def _update_pace_controls(self) -> None:
        """Show the gateway controls for a gateway account, holding its defaults (reset
        when the account changed since they were filled)."""
        defaults = self.pacing_defaults()
        gateway = defaults.gateway_like
        if self.pace_account != self.account.currentData():
            self.pace_account = self.account.currentData()
            self.rate.setValue(0.0)
            self.jitter_min.setValue(defaults.jitter[0])
            self.jitter_max.setValue(defaults.jitter[1])
            self.hourly_cap.setValue(defaults.hourly_cap or 120)
            self.warmup.setChecked(defaults.warmup)
        for widget in self.gateway_rows:
            widget.setVisible(gateway)
        per = _per(defaults.rate)
        self.rate_hint.setText(
            f"This account's default is {per}. Go slower to spread the campaign out; going "
            "faster than the provider allows only brings refusals and retries."
        )
        self._update_pace_summary()

    def pacing_choice(self) -> dict[str, Any]:
        """What the user changed from the account's default pace (``CampaignDraft`` keys)."""
        if self.pace_account != self.account.currentData():
            self._update_pace_controls()  # the controls still hold another account's pace
        defaults = self.pacing_defaults()
        chosen: dict[str, Any] = {}
        rate = self.rate.value()
        if rate and rate != defaults.rate:
            chosen["rate"] = rate
        if defaults.gateway_like:
            jitter = (
                self.jitter_min.value(),
                max(self.jitter_min.value(), self.jitter_max.value()),
            )
            if jitter != defaults.jitter:
                chosen["jitter"] = jitter
            if self.hourly_cap.value() != defaults.hourly_cap:
                chosen["hourly_cap"] = self.hourly_cap.value()
            if self.warmup.isChecked() != defaults.warmup:
                chosen["warmup"] = self.warmup.isChecked()
        return chosen

    def pacing(self) -> Pacing:
        """The pace the campaign will have."""
        defaults = self.pacing_defaults()
        chosen = self.pacing_choice()
        return Pacing(
            rate=chosen.get("rate", defaults.rate),
            in_flight=defaults.in_flight,
            jitter=chosen.get("jitter", defaults.jitter),
            hourly_cap=chosen.get("hourly_cap", defaults.hourly_cap),
            warmup=chosen.get("warmup", defaults.warmup),
        )

    def _update_pace_summary(self) -> None:
        if not hasattr(self, "pace_summary"):
            return
        self.pace_summary.setText(f"Pace: {self.pacing().describe()}.")

    # --- page 4: preflight ---------------------------------------------------------------

    def _preflight_page(self) -> QWidget:
        page = QWidget()
        self.headline = QLabel("Checking…")
        self.headline.setStyleSheet("font-size: 16px; font-weight: 600;")
        self.headline.setWordWrap(True)
        self.numbers = QLabel()
        self.numbers.setWordWrap(True)
        self.numbers.setTextFormat(Qt.TextFormat.RichText)
        self.blocking = QLabel()
        self.blocking.setWordWrap(True)
        self.blocking.setTextFormat(Qt.TextFormat.RichText)
        self.warnings = QLabel()
        self.warnings.setWordWrap(True)
        self.warnings.setTextFormat(Qt.TextFormat.RichText)
        self.lists = QTreeWidget()
        self.lists.setHeaderLabels(["Who", "Number", "Why"])
        self.lists.setColumnWidth(0, 260)
        self.lists.setColumnWidth(1, 170)
        self.lists.setMinimumHeight(140)
        self.test_phone = QLineEdit()
        self.test_phone.setPlaceholderText("+44 7700 900123")
        self.test_btn = QPushButton("Send a test")
        self.test_btn.clicked.connect(self.send_test)
        self.test_result = QLabel()
        self.test_result.setWordWrap(True)
        test_row = QHBoxLayout()
        test_row.addWidget(QLabel("Send a test to"))
        test_row.addWidget(self.test_phone, 1)
        test_row.addWidget(self.test_btn)
        layout = QVBoxLayout(page)
        layout.addWidget(self.headline)
        layout.addWidget(self.blocking)
        layout.addWidget(self.numbers)
        layout.addWidget(self.warnings)
        layout.addWidget(self.lists, 1)
        layout.addLayout(test_row)
        layout.addWidget(self.test_result)
        return page

    def draft(self) -> CampaignDraft:
        template = self._chosen(self.template)
        freeform = self._chosen(self.freeform)
        return CampaignDraft(
            name=self.name.text().strip() or "Campaign",
            account_id=int(self.account.currentData() or 0),
            group_ids=self.group_ids(),
            template_id=None if template is None else template.id,
            freeform_template_id=None if freeform is None else freeform.id,
            variable_mapping={n: s.to_dict() for n, s in self.mapping().items()},
            window_policy=self.window_policy(),
            exclude_opted_out=self.exclude.isChecked(),
            scheduled_at=self.scheduled_at(),
            missed_schedule_policy=MissedSchedulePolicy(self.missed.currentData()),
            missed_after_hours=self.missed_hours.value(),
            **self.pacing_choice(),
        )

    async def _preflight(self) -> None:
        draft = self.draft()
        health = self.last_health(draft.account_id) if self.last_health else None
        report = await self.services.campaigns.preflight(draft, health=health)
        self.report = report
        self._show_report(report)

    def _starts_text(self, report: PreflightReport) -> str:
        if self.scheduled_at() is None:
            return "now, when you confirm"
        return day_and_time(report.starts_at)

    def _show_report(self, report: PreflightReport) -> None:
        finish = _clock(report.finishes_at)
        if report.ok and self.scheduled_at() is not None:
            self.headline.setText(
                f"{_plural(report.to_send, 'person gets', 'people get')} a message. Sending "
                f"starts {day_and_time(report.starts_at)} and takes {report.duration} "
                f"(done around {finish})."
            )
        elif report.ok:
            self.headline.setText(
                f"{_plural(report.to_send, 'person gets', 'people get')} a message. Sending "
                f"takes {report.duration} (done around {finish})."
            )
        else:
            self.headline.setText("This campaign cannot be sent yet: fix what is in red.")
        bad, warn, ok = (status_color(t).name() for t in ("bad", "warn", "ok"))
        self.blocking.setText(
            "".join(f"<p style='color:{bad}'>✖ {_html(b)}</p>" for b in report.blocking)
        )
        self.blocking.setVisible(bool(report.blocking))
        self.warnings.setText(
            "".join(f"<p style='color:{warn}'>⚠ {_html(w)}</p>" for w in report.warnings)
        )
        self.warnings.setVisible(bool(report.warnings))
        pace = self.pacing().describe()
        rate = (
            pace[:1].upper()
            + pace[1:]
            + (" (the account's default)" if not self.pacing_choice() else "")
        )
        tier = (
            f"{report.daily_limit:,} new people per 24 h"
            if report.daily_limit
            else "unlimited"
            if report.messaging_limit
            else "not known (check the account in Diagnostics)"
        )
        template = report.template_info
        template_line = (
            ""
            if template is None
            else f"<tr><td>Template</td><td>{_html(template.name)}: "
            f"<span style='color:{ok if template.approved else bad}'>"
            f"{_html(template.status.capitalize() or 'not submitted')}</span>"
            + (
                f", quality {QUALITY_WORDS.get(template.quality.upper(), template.quality)}"
                if template.quality
                else ""
            )
            + "</td></tr>"
        )
        rows = [
            ("Contacts in the chosen groups", f"{report.audience:,}"),
            ("Will get a message", f"<b>{report.to_send:,}</b>"),
            *(
                [
                    ("Inside the 24-hour window", f"{report.in_window:,}"),
                    ("Outside the 24-hour window", f"{report.out_of_window:,}"),
                ]
                if report.window_applies
                else []
            ),
            ("Pace", rate),
            ("Daily limit of the number", tier),
            ("Starts", self._starts_text(report)),
            ("Estimated finish", f"{report.duration}, around {finish}"),
        ]
        self.numbers.setText(
            "<table cellspacing='0' cellpadding='3'>"
            + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
            + template_line
            + "".join(f"<tr><td></td><td>{_html(line)}</td></tr>" for line in report.routing)
            + "</table>"
        )
        self.lists.clear()
        for title, people in (
            ("Invalid numbers: skipped", report.invalid),
            ("Opted out: skipped", report.opted_out),
            ("Opted out but included", report.opted_out_included),
            ("In more than one group: written to once", report.duplicates),
            ("Skipped by the 24-hour window policy", report.window_skipped),
            ("Missing or unusable variable values: skipped", report.unrenderable),
        ):
            if people.count:
                self._section(title, people)
        self.lists.setVisible(self.lists.topLevelItemCount() > 0)
        self._update_nav()

    def _section(self, title: str, people: PeopleList) -> None:
        top = QTreeWidgetItem([f"{title} ({people.count:,})"])
        font = top.font(0)
        font.setBold(True)
        top.setFont(0, font)
        top.setFirstColumnSpanned(True)
        for person in people.people:
            child = QTreeWidgetItem(
                [person.name or "(no name)", _phone_text(person.phone), person.reason]
            )
            child.setToolTip(2, person.reason)
            top.addChild(child)
        if people.unnamed:
            top.addChild(QTreeWidgetItem([f"… and {people.unnamed:,} more"]))
        self.lists.addTopLevelItem(top)
        top.setFirstColumnSpanned(True)
        top.setExpanded(people.count <= 10)

    def send_test(self) -> None:
        phone = self.test_phone.text().strip()
        if not phone:
            self._test_said(False, "Write the number to send the test to.")
            return
        self.test_btn.setEnabled(False)
        self.test_result.setText("Sending…")
        self.testing = self._spawn(
            self._send_test(phone),
            failure=lambda e: self._test_said(
                False, e.message if isinstance(e, WaappError) else "The test could not be sent."
            ),
        )

    async def _send_test(self, phone: str) -> None:
        outcome: TestSendOutcome = await self.services.campaigns.test_send(self.draft(), phone)
        text = outcome.summary
        if outcome.text:
            text += f"\nThe message: “{outcome.text}”"
        if outcome.what_to_do:
            text += f"\n{outcome.what_to_do}"
        self._test_said(outcome.sent, text)

    def _test_said(self, ok: bool, text: str) -> None:
        self.test_btn.setEnabled(True)
        self.test_result.setText(text)
        self.test_result.setStyleSheet(f"color: {status_color('ok' if ok else 'bad').name()};")

    # --- page 5: confirm -----------------------------------------------------------------

    def _confirm_page(self) -> QWidget:
        page = QWidget()
        self.summary_form = QFormLayout()
        self.summary_form.setVerticalSpacing(10)
        self.summary = QLabel()  # the whole summary as text, for tests and screen readers
        self.summary.hide()
        note = QLabel(
            "You can pause the campaign at any time and resume it later: nobody gets it twice."
        )
        note.setObjectName("hint")
        note.setWordWrap(True)
        self.later_note = QLabel(
            "Until then you can change it (Edit in the campaign view) or cancel it. waapp "
            "must be running at that time to send it; it can stay in the system tray."
        )
        self.later_note.setObjectName("hint")
        self.later_note.setWordWrap(True)
        layout = QVBoxLayout(page)
        layout.addLayout(self.summary_form)
        layout.addSpacing(12)
        layout.addWidget(self.later_note)
        layout.addWidget(note)
        layout.addStretch()
        return page

    def _fill_summary(self) -> None:
        report = self.report
        assert report is not None
        draft = self.draft()
        groups = ", ".join(g.name for g in self.groups if g.id in draft.group_ids)
        message = []
        if report.template_info is not None:
            message.append(f"the template “{report.template_info.name}”")
        if report.freeform_name:
            message.append(f"the free-form message “{report.freeform_name}”")
        rows = [
            ("Campaign", draft.name),
            ("From", self.account.currentText()),
            ("To", f"{groups}: {_plural(report.to_send, 'recipient', 'recipients')}"),
            ("Message", " and ".join(message)),
            ("Starts", self._confirm_starts(report)),
            ("Takes", f"{report.duration} (done around {_clock(report.finishes_at)})"),
            ("Pace", self.pacing().describe()),
        ]
        skipped = report.audience - report.to_send
        if skipped:
            rows.append(
                (
                    "Skipped",
                    _plural(skipped, "contact", "contacts") + " (the preflight lists who and why)",
                )
            )
        while self.summary_form.rowCount():
            self.summary_form.removeRow(0)
        for key, value in rows:
            title = QLabel(key)
            title.setStyleSheet("font-weight: 600;")
            text = QLabel(value)
            text.setWordWrap(True)
            self.summary_form.addRow(title, text)
        self.summary.setText("\n".join(f"{k}: {v}" for k, v in rows))
        self.later_note.setVisible(self.scheduled_at() is not None)

    def _confirm_starts(self, report: PreflightReport) -> str:
        at = self.scheduled_at()
        if at is None:
            return "now, when you press Start sending"
        missed = missed_words(
            MissedSchedulePolicy(self.missed.currentData()), self.missed_hours.value()
        )
        return f"{day_and_time(report.starts_at)}. If waapp is closed then, {missed}."

    async def _save(self) -> Campaign:
        """Create the campaign as a draft, or update the one edited (a scheduled one stays
        scheduled at the chosen time, or becomes a draft for "now")."""
        draft = self.draft()
        campaigns = self.services.campaigns
        if self.editing is not None and self.editing.id is not None:
            return await campaigns.update(self.editing.id, draft)
        return await campaigns.create(
            name=draft.name,
            account_id=draft.account_id,
            group_ids=draft.group_ids,
            template_id=draft.template_id,
            freeform_template_id=draft.freeform_template_id,
            variable_mapping=draft.variable_mapping,
            window_policy=draft.window_policy,
            exclude_opted_out=draft.exclude_opted_out,
            pacing=draft.pacing(),
        )

    async def _start(self) -> None:
        at = self.scheduled_at()
        saved = await self._save()
        assert saved.id is not None
        self.editing = saved  # a failure below and a second press: this one, not a new one
        campaigns = self.services.campaigns
        if at is None:
            self.campaign = await campaigns.start(saved.id)
        elif saved.status is CampaignStatus.SCHEDULED:
            self.campaign = saved  # the update scheduled it at ``at``
        else:
            self.campaign = await campaigns.schedule(
                saved.id,
                at,
                missed_policy=MissedSchedulePolicy(self.missed.currentData()),
                missed_after_hours=self.missed_hours.value(),
                note="edited" if self.edits else "",
            )
        self.accept()

    def save_draft(self) -> None:
        """Edit mode: keep the changes (a draft stays a draft, a scheduled campaign stays
        scheduled at the chosen time)."""
        at = self.scheduled_at()
        scheduled = self.editing is not None and self.editing.status is CampaignStatus.SCHEDULED
        if scheduled and at is not None and at <= datetime.now().astimezone():
            self._said(
                "The start time has passed: choose a later one on the schedule step, or "
                "“Start sending as soon as I confirm”."
            )
            return
        self.save_btn.setEnabled(False)
        self.next_btn.setEnabled(False)
        self.saving = self._spawn(self._save_draft(), failure=self._failed)

    async def _save_draft(self) -> None:
        self.campaign = await self._save()
        self.accept()

    # --- navigation ----------------------------------------------------------------------

    def _show(self, index: int) -> None:
        self.pages.setCurrentIndex(index)
        self.step.setText(f"Step {index + 1} of {len(STEPS)}: {STEPS[index]}")
        self.error.hide()
        if index == MESSAGE and not self.contacts:
            self._spawn(self._load_contacts())
        if index == SCHEDULE:
            self._update_pace_controls()
        if index == PREFLIGHT:
            self.report = None
            self.headline.setText("Checking what this campaign will do…")
            for label in (self.numbers, self.blocking, self.warnings):
                label.clear()
            self.lists.clear()
            self.test_result.clear()
            self.checking = self._spawn(self._preflight(), failure=self._failed)
        if index == CONFIRM:
            self._fill_summary()
        self._update_nav()

    def _update_nav(self) -> None:
        index = self.pages.currentIndex()
        self.back_btn.setVisible(index > AUDIENCE)
        last = "Start sending" if self.scheduled_at() is None else "Schedule"
        self.next_btn.setText({PREFLIGHT: "Confirm…", CONFIRM: last}.get(index, "Next"))
        enabled = True
        if index == AUDIENCE:
            enabled = bool(self.group_ids()) and bool(self.accounts)
        elif index == MESSAGE:
            enabled = (
                self._chosen(self.template) is not None or self._chosen(self.freeform) is not None
            )
        elif index == PREFLIGHT:
            enabled = self.report is not None and self.report.ok
        self.next_btn.setEnabled(enabled)
        self.save_btn.setEnabled(
            self.loaded and bool(self.group_ids()) and bool(self.accounts) and self._has_message()
        )

    def _has_message(self) -> bool:
        return self._chosen(self.template) is not None or self._chosen(self.freeform) is not None

    def back(self) -> None:
        self._show(max(AUDIENCE, self.pages.currentIndex() - 1))

    def next(self) -> None:
        index = self.pages.currentIndex()
        if index == CONFIRM:
            at = self.scheduled_at()
            if at is not None and at <= datetime.now().astimezone():
                self._said("The start time has passed meanwhile: go back and choose a later one.")
                return
            self.next_btn.setEnabled(False)
            self.back_btn.setEnabled(False)
            self.save_btn.setEnabled(False)
            self.starting = self._spawn(self._start(), failure=self._failed)
            return
        if index == SCHEDULE:
            problem = self._schedule_problem()
            if problem:
                self._said(problem)
                return
        self._show(index + 1)

    def _schedule_problem(self) -> str:
        at = self.scheduled_at()
        if at is not None and at <= datetime.now().astimezone() + timedelta(minutes=1):
            return "Choose a start time in the future, or “Start sending as soon as I confirm”."
        if self.jitter_max.value() < self.jitter_min.value():
            return "The random wait's longest time must not be shorter than its shortest."
        return ""

    def _said(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def _failed(self, error: BaseException) -> None:
        if not isinstance(error, WaappError):
            raise error
        self.error.setText(f"{error.message} {error.what_to_do or ''}".strip())
        self.error.show()
        self.back_btn.setEnabled(True)
        self._update_nav()


def _query(group_ids: list[int]) -> Any:
    from waapp.core.ports import ContactQuery

    return ContactQuery(group_id=group_ids[0] if group_ids else None)


def _phone_text(phone: str) -> str:
    try:
        return display_phone(phone)
    except Exception:  # an invalid number is shown as it is stored
        return phone


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
