"""The initial schema: contacts, groups, accounts, templates, campaigns and their ledger.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written out in full (no ``metadata.create_all``): a migration describes the schema as it
was when it was written, whatever ``schema.py`` says later. Datetime columns are text
(``UTCDateTime`` stores ``YYYY-MM-DDTHH:MM:SS.ffffffZ``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_EMPTY = sa.text("''")


def _when(name: str, *, nullable: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=nullable)


def _nocase() -> sa.String:
    return sa.String(collation="NOCASE")


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone_e164", sa.String(), nullable=False),
        sa.Column("wa_id", sa.String(), nullable=True),
        sa.Column("name", _nocase(), server_default=_EMPTY, nullable=False),
        sa.Column("fields", sa.JSON(), server_default="{}", nullable=False),
        _when("opted_out_at"),
        sa.Column("opt_out_reason", sa.Text(), nullable=True),
        _when("last_inbound_at"),
        _when("created_at", nullable=False),
        _when("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
        sa.UniqueConstraint("phone_e164", name="uq_contacts_phone_e164"),
    )
    op.create_index("ix_contacts_name", "contacts", ["name"])
    op.create_index("ix_contacts_created_at", "contacts", ["created_at"])
    op.create_index("ix_contacts_last_inbound_at", "contacts", ["last_inbound_at"])

    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _nocase(), nullable=False),
        _when("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_groups"),
        sa.UniqueConstraint("name", name="uq_groups_name"),
    )

    op.create_table(
        "contact_groups",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name="fk_contact_groups_group_id_groups",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name="fk_contact_groups_contact_id_contacts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "contact_id", name="pk_contact_groups"),
    )
    op.create_index("ix_contact_groups_contact_id", "contact_groups", ["contact_id"])

    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("name", _nocase(), nullable=False),
        sa.Column("settings", sa.JSON(), server_default="{}", nullable=False),
        _when("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("name", name="uq_accounts_name"),
    )

    op.create_table(
        "templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), server_default=_EMPTY, nullable=False),
        sa.Column("language", sa.String(), server_default=_EMPTY, nullable=False),
        sa.Column("category", sa.String(), server_default=_EMPTY, nullable=False),
        sa.Column("header", sa.JSON(), nullable=True),
        sa.Column("footer", sa.Text(), nullable=True),
        sa.Column("buttons", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("placeholder_format", sa.String(), server_default="positional", nullable=False),
        sa.Column("provider_ref", sa.String(), nullable=True),
        sa.Column("status", sa.String(), server_default=_EMPTY, nullable=False),
        sa.Column("quality", sa.String(), server_default=_EMPTY, nullable=False),
        _when("synced_at"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_templates_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_templates"),
        sa.UniqueConstraint(
            "account_id", "name", "language", name="uq_templates_account_id_name_language"
        ),
    )

    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column("freeform_template_id", sa.Integer(), nullable=True),
        sa.Column("variable_mapping", sa.JSON(), server_default="{}", nullable=False),
        sa.Column("audience", sa.JSON(), server_default="{}", nullable=False),
        sa.Column("window_policy", sa.String(), nullable=False),
        _when("scheduled_at"),
        sa.Column("missed_schedule_policy", sa.String(), nullable=False),
        sa.Column("missed_after_hours", sa.Integer(), server_default="6", nullable=False),
        sa.Column("pacing", sa.JSON(), server_default="{}", nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("counters", sa.JSON(), server_default="{}", nullable=False),
        _when("created_at", nullable=False),
        _when("started_at"),
        _when("finished_at"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_campaigns_account_id_accounts",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["templates.id"],
            name="fk_campaigns_template_id_templates",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["freeform_template_id"],
            ["templates.id"],
            name="fk_campaigns_freeform_template_id_templates",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
    )
    op.create_index("ix_campaigns_status", "campaigns", ["status"])
    op.create_index("ix_campaigns_account_id", "campaigns", ["account_id"])

    op.create_table(
        "campaign_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        _when("at", nullable=False),
        sa.Column("from_status", sa.String(), nullable=True),
        sa.Column("to_status", sa.String(), nullable=False),
        sa.Column("cause", sa.String(), server_default=_EMPTY, nullable=False),
        sa.Column("detail", sa.Text(), server_default=_EMPTY, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name="fk_campaign_events_campaign_id_campaigns",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_campaign_events"),
    )
    op.create_index("ix_campaign_events_campaign_id_at", "campaign_events", ["campaign_id", "at"])

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("phone_e164", sa.String(), nullable=False),
        sa.Column("route", sa.String(), nullable=False),
        sa.Column("variables", sa.JSON(), server_default="{}", nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        _when("next_attempt_at"),
        sa.Column("provider_message_id", sa.String(), nullable=True),
        sa.Column("error_code", sa.String(), nullable=True),
        sa.Column("error_title", sa.Text(), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        _when("sending_at"),
        _when("sent_at"),
        _when("delivered_at"),
        _when("read_at"),
        _when("failed_at"),
        _when("updated_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name="fk_messages_campaign_id_campaigns",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name="fk_messages_contact_id_contacts",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.UniqueConstraint("campaign_id", "phone_e164", name="uq_messages_campaign_id_phone_e164"),
    )
    op.create_index("ix_messages_campaign_id_state", "messages", ["campaign_id", "state"])
    op.create_index("ix_messages_state_next_attempt_at", "messages", ["state", "next_attempt_at"])
    op.create_index("ix_messages_provider_message_id", "messages", ["provider_message_id"])
    op.create_index("ix_messages_contact_id", "messages", ["contact_id"])

    op.create_table(
        "status_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("provider_message_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        _when("occurred_at", nullable=False),
        _when("received_at", nullable=False),
        sa.Column("source", sa.String(), server_default="webhook", nullable=False),
        sa.Column("error_code", sa.String(), nullable=True),
        sa.Column("raw", sa.Text(), server_default=_EMPTY, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_status_events_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_status_events"),
        sa.UniqueConstraint(
            "provider_message_id",
            "status",
            "occurred_at",
            name="uq_status_events_provider_message_id_status_occurred_at",
        ),
    )
    op.create_index("ix_status_events_account_id", "status_events", ["account_id"])

    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("from_phone", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), server_default=_EMPTY, nullable=False),
        _when("received_at", nullable=False),
        sa.Column("provider_message_id", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_inbound_messages_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name="fk_inbound_messages_contact_id_contacts",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_messages"),
        sa.UniqueConstraint(
            "account_id",
            "provider_message_id",
            name="uq_inbound_messages_account_id_provider_message_id",
        ),
    )
    op.create_index("ix_inbound_messages_contact_id", "inbound_messages", ["contact_id"])
    op.create_index(
        "ix_inbound_messages_from_phone_received_at",
        "inbound_messages",
        ["from_phone", "received_at"],
    )

    op.create_table(
        "settings",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_settings"),
    )


def downgrade() -> None:
    for table in (
        "settings",
        "inbound_messages",
        "status_events",
        "messages",
        "campaign_events",
        "campaigns",
        "templates",
        "accounts",
        "contact_groups",
        "groups",
        "contacts",
    ):
        op.drop_table(table)
