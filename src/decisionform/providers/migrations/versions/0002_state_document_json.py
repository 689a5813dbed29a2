"""The state document is json, not jsonb, on PostgreSQL.

It is only ever read and written whole (never queried inside), and jsonb parsed the
whole document into its binary form on every apply and printed it back on every plan:
at 10,000 resources about 0.3 s of server time per apply. SQLite stores JSON as text
either way: nothing changes there.

Frozen, like 0001: it must not import the application's code.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 18:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("gitops_state", "document", type_=sa.JSON(), existing_type=postgresql.JSONB(),
                        existing_nullable=False, postgresql_using="document::json")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("gitops_state", "document", type_=postgresql.JSONB(), existing_type=sa.JSON(),
                        existing_nullable=False, postgresql_using="document::jsonb")
