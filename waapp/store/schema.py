"""The database schema as SQLAlchemy Core tables: the one description of the data model.

Migrations (``store/migrations``) create exactly this; a test compares the two.

Conventions:

- Datetimes are :class:`UTCDateTime`: aware UTC in Python, fixed-width ISO-8601 text in the
  file (``2024-05-01T09:30:00.000000Z``), so that text order is time order and comparisons
  in SQL work. Never compare them with SQLite's own ``datetime('now')`` (another format).
- Enums (states, kinds, policies) are stored as their string values, without CHECK
  constraints: adding a state must not need a table rebuild.
- Names users type (contacts, groups, accounts) use the ``NOCASE`` collation, so that
  uniqueness, ``=`` and ``ORDER BY`` ignore ASCII case and the plain index serves the sort.
- Every foreign key that a delete cascades through has an index on the referencing column,
  or deleting contacts would scan ``messages`` once per contact.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = [
    "NAMING_CONVENTION",
    "UTCDateTime",
    "accounts",
    "campaign_events",
    "campaigns",
    "contact_groups",
    "contacts",
    "format_utc",
    "groups",
    "inbound_messages",
    "messages",
    "metadata",
    "parse_utc",
    "require_utc",
    "settings",
    "status_events",
    "templates",
]

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# The empty-string default as SQL text: Alembic's comparison misreads a plain "" default.
_EMPTY = text("''")


# --- datetimes ---------------------------------------------------------------------------


def require_utc(value: datetime) -> datetime:
    """``value`` converted to UTC; raises ValueError for a naive datetime.

    A naive datetime has no defined instant (local time? UTC?), so the store refuses it
    rather than guessing.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} refused: pass an aware (UTC) one")
    return value.astimezone(UTC)


def format_utc(value: datetime) -> str:
    """The stored form: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, always 27 characters."""
    return require_utc(value).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_utc(text: str) -> datetime:
    """Inverse of :func:`format_utc`: an aware datetime in UTC."""
    return datetime.fromisoformat(text).astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes as fixed-width ISO-8601 text (sorts as it should, readable)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:
        return None if value is None else format_utc(value)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        return None if value is None else parse_utc(value)

    @property
    def python_type(self) -> type[datetime]:
        return datetime


def _nocase() -> String:
    return String(collation="NOCASE")


# --- contacts and groups -----------------------------------------------------------------

contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("phone_e164", String, nullable=False),
    # What the provider reports back; may differ from phone_e164 (Brazil, Mexico, Argentina).
    Column("wa_id", String),
    Column("name", _nocase(), nullable=False, server_default=_EMPTY),
    Column("fields", JSON, nullable=False, server_default="{}"),
    Column("opted_out_at", UTCDateTime),
    Column("opt_out_reason", Text),
    Column("last_inbound_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("phone_e164"),
    Index("ix_contacts_name", "name"),
    Index("ix_contacts_created_at", "created_at"),
    Index("ix_contacts_last_inbound_at", "last_inbound_at"),
)

groups = Table(
    "groups",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", _nocase(), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("name"),
)

contact_groups = Table(
    "contact_groups",
    metadata,
    Column("group_id", Integer, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    # The primary key serves lookups by group; this one serves the cascade from contacts.
    Index("ix_contact_groups_contact_id", "contact_id"),
)

# --- accounts and templates --------------------------------------------------------------

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String, nullable=False),
    Column("name", _nocase(), nullable=False),
    # Non-secret settings only; secrets live in the keyring, keyed by account id.
    Column("settings", JSON, nullable=False, server_default="{}"),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("name"),
)

templates = Table(
    "templates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE")),
    Column("kind", String, nullable=False),
    Column("name", String, nullable=False),
    Column("body", Text, nullable=False, server_default=_EMPTY),
    Column("language", String, nullable=False, server_default=_EMPTY),
    Column("category", String, nullable=False, server_default=_EMPTY),
    Column("header", JSON(none_as_null=True)),
    Column("footer", Text),
    Column("buttons", JSON, nullable=False, server_default="[]"),
    Column("placeholder_format", String, nullable=False, server_default="positional"),
    Column("provider_ref", String),
    Column("status", String, nullable=False, server_default=_EMPTY),
    Column("quality", String, nullable=False, server_default=_EMPTY),
    Column("synced_at", UTCDateTime),
    # NULL account_id (local free-form templates): SQLite lets NULLs repeat in a UNIQUE.
    UniqueConstraint("account_id", "name", "language"),
)

# --- campaigns and their ledger ----------------------------------------------------------

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False),
    # RESTRICT: deleting an account must never silently take campaign history with it.
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="RESTRICT"), nullable=False),
    Column("template_id", Integer, ForeignKey("templates.id", ondelete="SET NULL")),
    Column("freeform_template_id", Integer, ForeignKey("templates.id", ondelete="SET NULL")),
    Column("variable_mapping", JSON, nullable=False, server_default="{}"),
    Column("audience", JSON, nullable=False, server_default="{}"),
    Column("window_policy", String, nullable=False),
    Column("scheduled_at", UTCDateTime),
    Column("missed_schedule_policy", String, nullable=False),
    Column("missed_after_hours", Integer, nullable=False, server_default="6"),
    Column("pacing", JSON, nullable=False, server_default="{}"),
    Column("status", String, nullable=False),
    Column("counters", JSON, nullable=False, server_default="{}"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Index("ix_campaigns_status", "status"),
    Index("ix_campaigns_account_id", "account_id"),
)

campaign_events = Table(
    "campaign_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "campaign_id",
        Integer,
        ForeignKey("campaigns.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("at", UTCDateTime, nullable=False),
    Column("from_status", String),
    Column("to_status", String, nullable=False),
    Column("cause", String, nullable=False, server_default=_EMPTY),
    Column("detail", Text, nullable=False, server_default=_EMPTY),
    Index("ix_campaign_events_campaign_id_at", "campaign_id", "at"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "campaign_id",
        Integer,
        ForeignKey("campaigns.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="SET NULL")),
    Column("phone_e164", String, nullable=False),
    Column("route", String, nullable=False),
    Column("variables", JSON, nullable=False, server_default="{}"),
    Column("state", String, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
    Column("provider_message_id", String),
    # The provider's second id of the message, when it has one: WaSender's status webhooks
    # name the WhatsApp ``key.id``, learnt from its message info, not the send's ``msgId``
    # (revision 0002).
    Column("provider_key_id", String),
    Column("error_code", String),
    Column("error_title", Text),
    Column("error_detail", Text),
    Column("sending_at", UTCDateTime),
    Column("sent_at", UTCDateTime),
    Column("delivered_at", UTCDateTime),
    Column("read_at", UTCDateTime),
    Column("failed_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    # One row per recipient: a campaign never holds the same number twice.
    UniqueConstraint("campaign_id", "phone_e164"),
    Index("ix_messages_campaign_id_state", "campaign_id", "state"),
    # The account's caps count a window of recent sends (revision 0003).
    Index("ix_messages_campaign_id_sent_at", "campaign_id", "sent_at"),
    Index("ix_messages_state_next_attempt_at", "state", "next_attempt_at"),
    Index("ix_messages_provider_message_id", "provider_message_id"),
    Index("ix_messages_provider_key_id", "provider_key_id"),
    Index("ix_messages_contact_id", "contact_id"),
)

status_events = Table(
    "status_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("provider_message_id", String, nullable=False),
    Column("status", String, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("source", String, nullable=False, server_default="webhook"),
    Column("error_code", String),
    Column("raw", Text, nullable=False, server_default=_EMPTY),
    # Dedupe: the same update delivered twice (webhook retry, webhook + poll) is one row.
    UniqueConstraint("provider_message_id", "status", "occurred_at"),
    Index("ix_status_events_account_id", "account_id"),
)

inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="SET NULL")),
    Column("from_phone", String, nullable=False),
    Column("body", Text, nullable=False, server_default=_EMPTY),
    Column("received_at", UTCDateTime, nullable=False),
    Column("provider_message_id", String),
    # Dedupe of redelivered webhooks; rows without a provider id (NULL) may repeat.
    UniqueConstraint("account_id", "provider_message_id"),
    Index("ix_inbound_messages_contact_id", "contact_id"),
    Index("ix_inbound_messages_from_phone_received_at", "from_phone", "received_at"),
)

# --- settings ----------------------------------------------------------------------------

settings = Table(
    "settings",
    metadata,
    Column("key", String, primary_key=True),
    # JSON 'null' is a stored value; the column itself is never SQL NULL.
    Column("value", JSON, nullable=False),
)
