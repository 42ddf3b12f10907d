"""SQLAlchemy 2 models of the store: CDRs, registrations, live channels.

These classes describe the schema at the newest migration; the migrations under
`migrations/versions/` are what create it (a test compares the two, so a model
change without a migration fails).  Column names follow FreeSWITCH's CDR
variables and `show channels` headers where one exists.

Timestamps are `UtcDateTime`: stored as UTC without an offset (portable across
SQLite and PostgreSQL, and sortable as text in SQLite), handed back aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .errors import NaiveTimestamp

# Alembic's batch mode (SQLite ALTER by table copy) needs every constraint named.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements an INTEGER PRIMARY KEY; elsewhere use 64 bits.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """An aware `datetime` stored as naive UTC, returned as aware UTC."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise NaiveTimestamp("value")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Cdr(Base):
    """One leg's call detail record."""

    __tablename__ = "cdrs"
    __table_args__ = (
        UniqueConstraint("uuid"),
        Index(None, "call_uuid"),
        Index(None, "start_stamp"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(64))
    call_uuid: Mapped[str] = mapped_column(String(64), default="")
    bleg_uuid: Mapped[str] = mapped_column(String(64), default="")
    direction: Mapped[str] = mapped_column(String(16))
    channel_name: Mapped[str] = mapped_column(String(255), default="")
    caller_id_name: Mapped[str] = mapped_column(String(255), default="")
    caller_id_number: Mapped[str] = mapped_column(String(255), default="")
    destination_number: Mapped[str] = mapped_column(String(255), default="")
    context: Mapped[str] = mapped_column(String(255), default="")
    node: Mapped[str] = mapped_column(String(255), default="")
    start_stamp: Mapped[datetime] = mapped_column(UtcDateTime())
    answer_stamp: Mapped[datetime | None] = mapped_column(UtcDateTime())
    end_stamp: Mapped[datetime] = mapped_column(UtcDateTime())
    duration: Mapped[int] = mapped_column(Integer)
    billsec: Mapped[int] = mapped_column(Integer)
    hangup_cause: Mapped[str] = mapped_column(String(64))
    hangup_cause_q850: Mapped[int] = mapped_column(Integer)
    sip_status: Mapped[int | None] = mapped_column(Integer)
    endpoint_disposition: Mapped[str] = mapped_column(String(64), default="")
    read_codec: Mapped[str] = mapped_column(String(64), default="")
    write_codec: Mapped[str] = mapped_column(String(64), default="")
    packets_in: Mapped[int | None] = mapped_column(BigInteger)
    packets_out: Mapped[int | None] = mapped_column(BigInteger)
    packets_lost: Mapped[int | None] = mapped_column(BigInteger)
    jitter_ms: Mapped[float | None] = mapped_column(Float)
    mos: Mapped[float | None] = mapped_column(Float)
    plc_frames: Mapped[int | None] = mapped_column(BigInteger)
    fec_frames: Mapped[int | None] = mapped_column(BigInteger)
    variables: Mapped[str] = mapped_column(Text, default="{}")


class Registration(Base):
    """One registered contact; unique on (profile, user, realm, contact)."""

    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint("profile", "user", "realm", "contact"),
        Index(None, "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    profile: Mapped[str] = mapped_column(String(64))
    user: Mapped[str] = mapped_column(String(255))
    realm: Mapped[str] = mapped_column(String(255))
    contact: Mapped[str] = mapped_column(String(1024))
    call_id: Mapped[str] = mapped_column(String(255), default="")
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    network_ip: Mapped[str] = mapped_column(String(64), default="")
    network_port: Mapped[int] = mapped_column(Integer, default=0)
    transport: Mapped[str] = mapped_column(String(16), default="udp")
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    received: Mapped[str] = mapped_column(String(128), default="")
    nat: Mapped[bool] = mapped_column(Boolean, default=False)
    node: Mapped[str] = mapped_column(String(255), default="")


class LiveChannel(Base):
    """A channel that exists now; inserted at create, updated on state changes, deleted at destroy."""

    __tablename__ = "live_channels"
    __table_args__ = (Index(None, "node"),)

    uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    direction: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(32))
    callstate: Mapped[str] = mapped_column(String(32))
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    cid_name: Mapped[str] = mapped_column(String(255), default="")
    cid_num: Mapped[str] = mapped_column(String(255), default="")
    ip_addr: Mapped[str] = mapped_column(String(64), default="")
    dest: Mapped[str] = mapped_column(String(255), default="")
    context: Mapped[str] = mapped_column(String(255), default="")
    application: Mapped[str] = mapped_column(String(255), default="")
    application_data: Mapped[str] = mapped_column(Text, default="")
    read_codec: Mapped[str] = mapped_column(String(64), default="")
    write_codec: Mapped[str] = mapped_column(String(64), default="")
    call_uuid: Mapped[str] = mapped_column(String(64), default="")
    node: Mapped[str] = mapped_column(String(255), default="")
