"""Initial schema: cdrs, registrations, live_channels.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

The tables are spelled out here rather than taken from the models, so this
revision keeps meaning what it meant when it shipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cdrs",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(64), nullable=False),
        sa.Column("call_uuid", sa.String(64), nullable=False),
        sa.Column("bleg_uuid", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("channel_name", sa.String(255), nullable=False),
        sa.Column("caller_id_name", sa.String(255), nullable=False),
        sa.Column("caller_id_number", sa.String(255), nullable=False),
        sa.Column("destination_number", sa.String(255), nullable=False),
        sa.Column("context", sa.String(255), nullable=False),
        sa.Column("node", sa.String(255), nullable=False),
        sa.Column("start_stamp", sa.DateTime(), nullable=False),
        sa.Column("answer_stamp", sa.DateTime(), nullable=True),
        sa.Column("end_stamp", sa.DateTime(), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=False),
        sa.Column("billsec", sa.Integer(), nullable=False),
        sa.Column("hangup_cause", sa.String(64), nullable=False),
        sa.Column("hangup_cause_q850", sa.Integer(), nullable=False),
        sa.Column("sip_status", sa.Integer(), nullable=True),
        sa.Column("endpoint_disposition", sa.String(64), nullable=False),
        sa.Column("read_codec", sa.String(64), nullable=False),
        sa.Column("write_codec", sa.String(64), nullable=False),
        sa.Column("packets_in", sa.BigInteger(), nullable=True),
        sa.Column("packets_out", sa.BigInteger(), nullable=True),
        sa.Column("packets_lost", sa.BigInteger(), nullable=True),
        sa.Column("jitter_ms", sa.Float(), nullable=True),
        sa.Column("mos", sa.Float(), nullable=True),
        sa.Column("plc_frames", sa.BigInteger(), nullable=True),
        sa.Column("fec_frames", sa.BigInteger(), nullable=True),
        sa.Column("variables", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cdrs"),
        sa.UniqueConstraint("uuid", name="uq_cdrs_uuid"),
    )
    op.create_table(
        "registrations",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("profile", sa.String(64), nullable=False),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("realm", sa.String(255), nullable=False),
        sa.Column("contact", sa.String(1024), nullable=False),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("network_ip", sa.String(64), nullable=False),
        sa.Column("network_port", sa.Integer(), nullable=False),
        sa.Column("transport", sa.String(16), nullable=False),
        sa.Column("user_agent", sa.String(255), nullable=False),
        sa.Column("received", sa.String(128), nullable=False),
        sa.Column("nat", sa.Boolean(), nullable=False),
        sa.Column("node", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registrations"),
        sa.UniqueConstraint(
            "profile", "user", "realm", "contact", name="uq_registrations_profile_user_realm_contact"
        ),
    )
    op.create_table(
        "live_channels",
        sa.Column("uuid", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("callstate", sa.String(32), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("cid_name", sa.String(255), nullable=False),
        sa.Column("cid_num", sa.String(255), nullable=False),
        sa.Column("ip_addr", sa.String(64), nullable=False),
        sa.Column("dest", sa.String(255), nullable=False),
        sa.Column("context", sa.String(255), nullable=False),
        sa.Column("application", sa.String(255), nullable=False),
        sa.Column("application_data", sa.Text(), nullable=False),
        sa.Column("read_codec", sa.String(64), nullable=False),
        sa.Column("write_codec", sa.String(64), nullable=False),
        sa.Column("call_uuid", sa.String(64), nullable=False),
        sa.Column("node", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("uuid", name="pk_live_channels"),
    )
    op.create_index("ix_live_channels_node", "live_channels", ["node"])


def downgrade() -> None:
    op.drop_index("ix_live_channels_node", table_name="live_channels")
    op.drop_table("live_channels")
    op.drop_table("registrations")
    op.drop_table("cdrs")
