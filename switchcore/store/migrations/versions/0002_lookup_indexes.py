"""Indexes for the hot queries: the registration expiry sweep and CDR lookups by call.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02

`expire_registrations` runs every few seconds and scans on `expires_at`; CDR
reports group the legs of one call by `call_uuid` and page by `start_stamp`.
Without these, each is a full table scan that grows with traffic.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_registrations_expires_at", "registrations", ["expires_at"])
    op.create_index("ix_cdrs_call_uuid", "cdrs", ["call_uuid"])
    op.create_index("ix_cdrs_start_stamp", "cdrs", ["start_stamp"])


def downgrade() -> None:
    op.drop_index("ix_cdrs_start_stamp", table_name="cdrs")
    op.drop_index("ix_cdrs_call_uuid", table_name="cdrs")
    op.drop_index("ix_registrations_expires_at", table_name="registrations")
