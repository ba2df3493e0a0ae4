"""The account's caps count its recent messages by index: ``messages(campaign_id, sent_at)``.

Revision ID: 0003
Revises: 0002
Create Date: 2025-03-01

The engine's cap checks (the hourly cap, the daily tier and the warm-up) count the
messages an account sent in the last hour or 24 hours, across its campaigns, and look up
its first send. Under 0002 only ``(campaign_id, state)`` served them, so each recount read
every message the account ever sent; with this index each reads only the window's rows
(and the first send is one index lookup per campaign).

Only an index is added: no row or column changes.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_messages_campaign_id_sent_at", "messages", ["campaign_id", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_campaign_id_sent_at", table_name="messages")
