"""The ports: what the store and the providers implement, and what services consume.

Repositories are synchronous and run on the database worker thread (``store.worker``);
services call them through ``await worker.run(...)``. Providers are asynchronous.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from waapp.core.catalogue import Dialect
from waapp.core.entities import AccountKind, Contact, Group, Template
from waapp.core.errors import WaappError
from waapp.core.states import DeliveryStatus


class ContactSort(StrEnum):
    NAME = "name"
    PHONE = "phone"
    CREATED = "created"
    UPDATED = "updated"
    LAST_INBOUND = "last_inbound"
    OPTED_OUT = "opted_out"


@dataclass(frozen=True, slots=True)
class ContactQuery:
    """Which contacts, in which order. Filtering and sorting happen in SQL."""

    search: str = ""  # matched against name, phone and custom field values
    group_id: int | None = None
    opted_out: bool | None = None  # None: both
    sort: ContactSort = ContactSort.NAME
    descending: bool = False


class ContactStore(Protocol):
    def add(self, contact: Contact) -> Contact:
        """Insert; raises DuplicateContact naming the existing contact."""

    def update(self, contact: Contact) -> Contact:
        """Save every field of ``contact`` (by id); raises DuplicateContact / NotFound."""

    def delete(self, ids: Sequence[int]) -> int: ...

    def get(self, contact_id: int) -> Contact:
        """Raises NotFound."""

    def find_by_phone(self, phone_e164: str) -> Contact | None: ...

    def count(self, query: ContactQuery) -> int: ...

    def ids(self, query: ContactQuery) -> list[int]:
        """Every matching id, in the query's order (cheap even for 100 000 rows)."""

    def get_many(self, ids: Sequence[int]) -> list[Contact]:
        """The contacts with these ids, in the order given; missing ids are left out."""

    def set_opt_out(
        self, ids: Sequence[int], *, opted_out: bool, reason: str | None, at: datetime | None
    ) -> int: ...

    def field_names(self) -> list[str]:
        """The custom field names in use, sorted."""


class GroupStore(Protocol):
    def list(self) -> list[Group]:
        """Every group with its member count, by name."""

    def create(self, name: str) -> Group:
        """Raises DuplicateName."""

    def rename(self, group_id: int, name: str) -> Group: ...

    def delete(self, group_id: int) -> None:
        """Deletes the group, never its contacts."""

    def add_members(self, group_id: int, contact_ids: Sequence[int]) -> int:
        """Returns how many were added (already-members are not counted)."""

    def remove_members(self, group_id: int, contact_ids: Sequence[int]) -> int: ...

    def groups_of(self, contact_id: int) -> builtins.list[Group]: ...


class SettingsStore(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None:
        """``value`` must be JSON-serialisable. Never a secret."""


# --- providers -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProviderError:
    """A provider's refusal, already mapped to the catalogue at the provider boundary."""

    code: str  # the provider's code ("63016", "131047", "http_429" …)
    title: str
    detail: str = ""
    retry_after_seconds: float | None = None
    #: True when the request may have reached the provider (timeout after writing it, reset
    #: while waiting for the answer): the outcome is unknown and must not be resent blindly.
    may_have_reached: bool = False


class ProviderRequestError(WaappError):
    """A provider request that is not a send failed (listing templates, fetching a status);
    ``error`` says how, already mapped to the catalogue."""

    def __init__(self, error: ProviderError, *, what_to_do: str = "") -> None:
        text = f"{error.title}: {error.detail}" if error.detail else error.title
        super().__init__(text, what_to_do=what_to_do or None)
        self.error = error


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_message_id: str | None = None
    wa_id: str | None = None
    error: ProviderError | None = None

    @property
    def accepted(self) -> bool:
        return self.error is None and self.provider_message_id is not None


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    provider_message_id: str
    status: DeliveryStatus
    occurred_at: datetime
    recipient: str | None = None  # +E164
    error: ProviderError | None = None
    reference: str | None = None  # our own id, when the provider echoes it back
    #: The provider's second id of the same message, when the answer names both: WaSender's
    #: message info gives the WhatsApp ``key.id`` its status webhooks use next to the
    #: ``msgId`` of the send (providers.md §3.5). The store keeps it on the message.
    key_id: str | None = None


@dataclass(frozen=True, slots=True)
class InboundText:
    from_phone: str  # +E164
    body: str
    received_at: datetime
    provider_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class MarketingPreference:
    """The customer stopped (``opted_out``) or resumed marketing messages in WhatsApp itself
    (Meta's ``user_preferences`` webhook). Not a message: it opens no window."""

    phone: str  # +E164
    opted_out: bool  # True: "stop"; False: "resume"
    occurred_at: datetime
    detail: str = ""  # Meta's own wording ("User requested to stop marketing messages")


#: What ``Provider.parse_webhook`` returns: the events the status intake writes.
WebhookEvent = StatusUpdate | InboundText | MarketingPreference


@dataclass(frozen=True, slots=True)
class HealthReport:
    ok: bool
    summary: str  # one plain sentence
    details: dict[str, str] = field(default_factory=dict)  # quality, messaging limit, session…


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


class Provider(Protocol):
    """One provider account's client. Errors are mapped to ``core.catalogue`` inside the
    module; nothing above it sees provider JSON."""

    kind: AccountKind
    #: The error and webhook dialect it speaks (a Sandbox account speaks one of the three).
    dialect: Dialect
    #: True when ``fetch_status`` works (Twilio, WaSender); Meta has no per-message GET.
    supports_polling: bool

    async def send_text(self, to: str, text: str, *, reference: str) -> SendResult: ...

    async def send_template(
        self, to: str, template: Template, variables: Mapping[str, str], *, reference: str
    ) -> SendResult: ...

    async def fetch_status(self, provider_message_id: str) -> StatusUpdate | None: ...

    async def list_templates(self) -> list[Template]: ...

    async def check_health(self) -> HealthReport: ...

    def verify_webhook(self, request: WebhookRequest) -> bool:
        """The provider's signature check, in constant time. ``request.url`` is the URL the
        provider called (the public tunnel URL for Twilio), not the local one."""

    def verify_subscription(self, query: Mapping[str, str]) -> str | None:
        """Meta's GET handshake: the ``hub.challenge`` to echo, or None to refuse (403)."""

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]: ...


@dataclass(frozen=True, slots=True)
class SentMessage:
    """An outbound message as the provider's own list shows it (see :class:`SentLookup`)."""

    provider_message_id: str
    to: str  # +E164
    #: When the provider created it (accepted the request); None when the list omits it.
    created_at: datetime | None
    #: The text as the provider stores it (a template's rendered text); None when not shown.
    body: str | None
    #: None while the provider still holds it (accepted, queued, sending).
    status: DeliveryStatus | None = None
    status_at: datetime | None = None  # when it last changed
    error: ProviderError | None = None  # with ``status`` failed


@runtime_checkable
class SentLookup(Protocol):
    """An optional capability of a :class:`Provider`: list what this account sent.

    Used to reconcile messages whose outcome is unknown (the request may or may not have
    reached the provider) by recipient and time. Twilio has it (its Messages list,
    filtered by ``To``, ``From`` and ``DateSent``, and it creates the message while
    answering the POST). Meta has no such list and reconciles through the reference its
    status webhook echoes (``biz_opaque_callback_data``); WaSender has none either.
    """

    async def find_sent(self, to: str, *, since: datetime) -> list[SentMessage]:
        """Every message this account's sender sent to ``to`` (+E164) created at or after
        ``since`` (or whose creation time the provider does not give). Raises
        ProviderRequestError when the provider cannot say — never a partial list."""
