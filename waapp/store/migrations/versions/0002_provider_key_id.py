"""Messages keep the provider's second id: ``messages.provider_key_id``.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01

WaSender's send answers with an integer ``msgId`` (stored as ``provider_message_id``) while
its status webhooks name the message by its WhatsApp ``key.id``, which only its message
info relates to the ``msgId`` (providers.md §3.5). The new column holds that second id so
that the webhooks find their message; it is indexed like the first.

A nullable column added at the end of the table: SQLite does it in place, without copying
the table, and every existing row keeps its values (the new column is NULL).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("provider_key_id", sa.String(), nullable=True))
    op.create_index("ix_messages_provider_key_id", "messages", ["provider_key_id"])


def downgrade() -> None:
    op.drop_index("ix_messages_provider_key_id", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("provider_key_id")
