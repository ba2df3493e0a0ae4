"""The domain's entities: plain dataclasses, what repositories return and services pass around."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from waapp.core.states import CampaignStatus, MessageState


class AccountKind(StrEnum):
    SANDBOX = "sandbox"
    TWILIO = "twilio"
    META = "meta"
    KAPSO = "kapso"  # Meta's contract behind Kapso's base URL and X-API-Key
    WASENDER = "wasender"


class TemplateKind(StrEnum):
    APPROVED = "approved"  # a provider-approved WhatsApp template (any time)
    FREEFORM = "freeform"  # free text, only inside the 24 h customer-service window


class PlaceholderFormat(StrEnum):
    POSITIONAL = "positional"  # {{1}}, {{2}} …
    NAMED = "named"  # {{first_name}} …


class Route(StrEnum):
    TEMPLATE = "template"
    FREEFORM = "freeform"


class WindowPolicy(StrEnum):
    TEMPLATE_ONLY = "template_only"
    FREEFORM_IN_WINDOW = "freeform_in_window"  # free-form inside the window, template outside
    FREEFORM_ONLY = "freeform_only"  # outside-window recipients are skipped


class MissedSchedulePolicy(StrEnum):
    SEND_ANYWAY = "send_anyway"
    ASK = "ask"
    SKIP_IF_LATE = "skip_if_late"  # skip when later than ``missed_after_hours``


@dataclass(slots=True)
class Contact:
    phone_e164: str
    name: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    wa_id: str | None = None
    opted_out_at: datetime | None = None
    opt_out_reason: str | None = None
    last_inbound_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    id: int | None = None

    @property
    def opted_out(self) -> bool:
        return self.opted_out_at is not None


@dataclass(slots=True)
class Group:
    name: str
    member_count: int = 0
    created_at: datetime | None = None
    id: int | None = None


@dataclass(slots=True)
class Account:
    kind: AccountKind
    name: str
    #: Non-secret settings only (account SID, phone-number id, WABA id, base URL, sender
    #: number, default region, pacing). Secrets live in the keyring, keyed by account id.
    settings: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    id: int | None = None


@dataclass(slots=True)
class Template:
    account_id: int | None
    kind: TemplateKind
    name: str
    body: str
    language: str = ""
    category: str = ""  # MARKETING / UTILITY / AUTHENTICATION for approved ones
    header: dict[str, Any] | None = None
    footer: str | None = None
    buttons: list[dict[str, Any]] = field(default_factory=list)
    placeholder_format: PlaceholderFormat = PlaceholderFormat.POSITIONAL
    provider_ref: str | None = None  # Meta template id or Twilio content SID (HX…)
    status: str = ""  # APPROVED, PENDING, PAUSED … as the provider says; "" for free-form
    quality: str = ""  # GREEN / YELLOW / RED / UNKNOWN
    synced_at: datetime | None = None
    id: int | None = None


@dataclass(slots=True)
class Campaign:
    name: str
    account_id: int
    template_id: int | None = None
    freeform_template_id: int | None = None
    #: placeholder → {"field": name} or {"text": fixed}
    variable_mapping: dict[str, dict[str, str]] = field(default_factory=dict)
    #: {"group_ids": [...], "exclude_opted_out": true, ...}
    audience: dict[str, Any] = field(default_factory=dict)
    window_policy: WindowPolicy = WindowPolicy.TEMPLATE_ONLY
    scheduled_at: datetime | None = None
    missed_schedule_policy: MissedSchedulePolicy = MissedSchedulePolicy.ASK
    missed_after_hours: int = 6
    pacing: dict[str, Any] = field(default_factory=dict)
    status: CampaignStatus = CampaignStatus.DRAFT
    #: per message state → count, kept in the same transaction as the rows
    counters: dict[str, int] = field(default_factory=dict)
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    id: int | None = None


@dataclass(slots=True)
class CampaignEvent:
    campaign_id: int
    at: datetime
    to_status: CampaignStatus
    from_status: CampaignStatus | None = None
    cause: str = ""  # "user", "scheduler", "engine", …
    detail: str = ""
    id: int | None = None


@dataclass(slots=True)
class Message:
    campaign_id: int
    contact_id: int | None
    phone_e164: str
    route: Route
    variables: dict[str, str] = field(default_factory=dict)
    state: MessageState = MessageState.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    provider_message_id: str | None = None
    error_code: str | None = None
    error_title: str | None = None
    error_detail: str | None = None
    #: state name → when the message reached it
    state_times: dict[str, datetime] = field(default_factory=dict)
    id: int | None = None


@dataclass(slots=True)
class StatusEvent:
    account_id: int
    provider_message_id: str
    status: str
    occurred_at: datetime
    received_at: datetime
    source: str = "webhook"  # or "poll"
    error_code: str | None = None
    raw: str = ""
    id: int | None = None


@dataclass(slots=True)
class InboundMessage:
    account_id: int
    from_phone: str
    body: str
    received_at: datetime
    contact_id: int | None = None
    provider_message_id: str | None = None
    id: int | None = None
