"""The store's data-access layer: CDRs, registrations and live channels.

Theory of operation: one `Store` owns one SQLAlchemy engine and sessionmaker,
both thread-safe, and every method is one short transaction on a session of
its own, so the asyncio switch can call any of them from worker threads
(`asyncio.to_thread`; the `a*` methods do exactly that).  Every write is a
single SQL statement (an `INSERT ... ON CONFLICT` upsert, a `DELETE ...
RETURNING`), so concurrent writers never hold a read snapshot they then try
to upgrade; SQLite's busy timeout simply queues them.  Methods return frozen
records (`records.py`), never ORM objects.

SQLite (the default) runs in WAL mode with `synchronous=NORMAL`: a committed
write survives the process stopping or being killed; only an OS crash or power
loss can take back the last few commits.  `write_cdr` returns after its commit,
so a channel that awaits it in REPORTING before DESTROY never loses its CDR.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, delete, event, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError, StatementError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from ..causes import HangupCause
from ..states import CallState, ChannelState
from . import migrate
from .errors import StoreError, StoreNotOpen
from .models import Cdr, LiveChannel, Registration
from .records import CdrRecord, ChannelRecord, MediaQuality, RegistrationRecord

DB_FILE_NAME = "switchcore.db"
SQLITE_BUSY_TIMEOUT_S = 10.0

_REG_KEY = ("profile", "user", "realm", "contact")


def default_url(data_dir: str | Path) -> str:
    """The URL used when `switch.conf.xml` sets no `db-url`: a SQLite file in the data directory."""
    return f"sqlite:///{Path(data_dir).resolve() / DB_FILE_NAME}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
    finally:
        cur.close()


class Store:
    """The switch's database: `Store(url).open()`, then the methods below, then `close()`.

    `url` is any SQLAlchemy URL; `default_url(data_dir)` gives the SQLite file.
    Opening creates or upgrades the schema to the newest revision.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        # An in-memory SQLite database lives in one connection shared by every
        # thread (StaticPool); this lock keeps their transactions apart.  A file
        # or server database gets a pool and needs no lock.
        self._lock: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()

    # -- life cycle ----------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._engine is not None

    def open(self) -> None:
        """Create the engine and bring the schema to the newest revision."""
        if self._engine is not None:
            return
        url = make_url(self.url)
        kwargs: dict[str, Any] = {}
        if url.get_backend_name() == "sqlite":
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S}
            if url.database in (None, "", ":memory:"):
                kwargs["poolclass"] = StaticPool
                self._lock = threading.RLock()
            elif url.database is not None and not url.database.startswith("file:"):
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs["pool_pre_ping"] = True
        engine = create_engine(url, **kwargs)
        if url.get_backend_name() == "sqlite":
            event.listen(engine, "connect", _on_sqlite_connect)
        try:
            with self._lock:
                migrate.upgrade(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"cannot open store {url.render_as_string(hide_password=True)}: {exc}") from exc
        except BaseException:
            engine.dispose()
            raise
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def close(self) -> None:
        """Release the engine's connections; methods raise `StoreNotOpen` afterwards."""
        engine, self._engine, self._sessions = self._engine, None, None
        if engine is not None:
            engine.dispose()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise StoreNotOpen()
        return self._engine

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at."""
        return migrate.current_revision(self.engine)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Session]:
        """One short transaction: commit on success, roll back and wrap driver errors on failure."""
        if self._sessions is None:
            raise StoreNotOpen()
        try:
            with self._lock, self._sessions() as session, session.begin():
                yield session
        except StatementError as exc:
            if isinstance(exc.orig, StoreError):  # e.g. NaiveTimestamp raised while binding
                raise exc.orig from None
            raise StoreError(str(exc)) from exc
        except SQLAlchemyError as exc:
            raise StoreError(str(exc)) from exc

    def _upsert(self, session: Session, model: Any, values: dict[str, Any], key: Sequence[str]) -> None:
        """Insert `values`, or update the row with the same `key` columns, in one statement."""
        dialect = session.get_bind().dialect.name
        changes = {k: v for k, v in values.items() if k not in key}
        if dialect in ("sqlite", "postgresql"):
            ins = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(model).values(**values)
            session.execute(ins.on_conflict_do_update(index_elements=list(key), set_=changes))
            return
        # Other backends: update first, insert if nothing matched.
        where = [getattr(model, k) == values[k] for k in key]
        stmt = update(model).where(*where).values(**changes).execution_options(synchronize_session=False)
        if session.execute(stmt).rowcount == 0:  # type: ignore[attr-defined]
            session.execute(insert(model).values(**values))

    # -- CDRs -------------------------------------------------------------------

    def write_cdr(self, cdr: CdrRecord) -> bool:
        """Store one leg's CDR; returns False (and stores nothing) if that leg's CDR is already there.

        Returns only after the commit, so a retry after a crash or timeout is safe.
        """
        values = _cdr_values(cdr)
        with self._tx() as session:
            dialect = session.get_bind().dialect.name
            if dialect in ("sqlite", "postgresql"):
                ins = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(Cdr).values(**values)
                result = session.execute(ins.on_conflict_do_nothing(index_elements=["uuid"]))
                return bool(result.rowcount)  # type: ignore[attr-defined]
            if session.scalar(select(func.count()).select_from(Cdr).where(Cdr.uuid == cdr.uuid)):
                return False
            try:
                session.execute(insert(Cdr).values(**values))
            except IntegrityError:
                return False
            return True

    def cdrs(
        self, limit: int = 100, uuid: str | None = None, call_uuid: str | None = None
    ) -> list[CdrRecord]:
        """The newest CDRs first (by start time), optionally only one leg or one call's legs."""
        query = select(Cdr).order_by(Cdr.start_stamp.desc(), Cdr.id.desc()).limit(limit)
        if uuid is not None:
            query = query.where(Cdr.uuid == uuid)
        if call_uuid is not None:
            query = query.where(Cdr.call_uuid == call_uuid)
        with self._tx() as session:
            return [_cdr_record(row) for row in session.scalars(query)]

    # -- registrations ------------------------------------------------------------

    def upsert_registration(self, reg: RegistrationRecord) -> None:
        """Add a contact, or refresh the one with the same (profile, user, realm, contact)."""
        with self._tx() as session:
            self._upsert(session, Registration, _reg_values(reg), _REG_KEY)

    def delete_registration(self, profile: str, user: str, realm: str, contact: str | None = None) -> int:
        """Remove one contact, or every contact of the user when `contact` is None; returns how many."""
        query = (
            delete(Registration)
            .where(Registration.profile == profile, Registration.user == user, Registration.realm == realm)
            .execution_options(synchronize_session=False)
        )
        if contact is not None:
            query = query.where(Registration.contact == contact)
        with self._tx() as session:
            return int(session.execute(query).rowcount)  # type: ignore[attr-defined]

    def registrations(
        self,
        profile: str | None = None,
        user: str | None = None,
        realm: str | None = None,
        include_expired: bool = False,
        now: datetime | None = None,
    ) -> list[RegistrationRecord]:
        """Registered contacts matching the filters, ordered by user then contact.

        Expired contacts (expires_at <= now; `now` defaults to the clock) are left
        out unless `include_expired`, even before `expire_registrations` removes them.
        """
        query = select(Registration).order_by(
            Registration.profile, Registration.realm, Registration.user, Registration.contact
        )
        if profile is not None:
            query = query.where(Registration.profile == profile)
        if user is not None:
            query = query.where(Registration.user == user)
        if realm is not None:
            query = query.where(Registration.realm == realm)
        if not include_expired:
            query = query.where(Registration.expires_at > (now or _utcnow()))
        with self._tx() as session:
            return [_reg_record(row) for row in session.scalars(query)]

    def expire_registrations(self, now: datetime | None = None) -> list[RegistrationRecord]:
        """Remove every contact whose expiry has passed and return them (for `sofia::expire` events)."""
        cutoff = now or _utcnow()
        with self._tx() as session:
            if session.get_bind().dialect.delete_returning:
                rows = session.scalars(
                    delete(Registration)
                    .where(Registration.expires_at <= cutoff)
                    .returning(Registration)
                    .execution_options(synchronize_session=False)
                ).all()
                return sorted((_reg_record(r) for r in rows), key=_reg_sort_key)
            found = session.scalars(select(Registration).where(Registration.expires_at <= cutoff)).all()
            gone = [_reg_record(r) for r in found]
            if found:
                session.execute(
                    delete(Registration)
                    .where(Registration.id.in_([r.id for r in found]))
                    .execution_options(synchronize_session=False)
                )
            return sorted(gone, key=_reg_sort_key)

    # -- live channels -----------------------------------------------------------

    def upsert_channel(self, channel: ChannelRecord) -> None:
        """Insert the channel, or replace its row (state changes, answer, bridge)."""
        with self._tx() as session:
            self._upsert(session, LiveChannel, _channel_values(channel), ("uuid",))

    def delete_channel(self, uuid: str) -> bool:
        """Remove a destroyed channel's row; False if there was none."""
        with self._tx() as session:
            result = session.execute(
                delete(LiveChannel)
                .where(LiveChannel.uuid == uuid)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def channels(self, node: str | None = None) -> list[ChannelRecord]:
        """Live channels, oldest first; only this node's when `node` is given."""
        query = select(LiveChannel).order_by(LiveChannel.created, LiveChannel.uuid)
        if node is not None:
            query = query.where(LiveChannel.node == node)
        with self._tx() as session:
            return [_channel_record(row) for row in session.scalars(query)]

    def clear_node(self, node: str) -> int:
        """Remove the channel rows a previous run of `node` left behind; call at start-up."""
        with self._tx() as session:
            result = session.execute(
                delete(LiveChannel)
                .where(LiveChannel.node == node)
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    # -- async wrappers: the same calls on a worker thread ---------------------------

    async def aopen(self) -> None:
        await asyncio.to_thread(self.open)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    async def awrite_cdr(self, cdr: CdrRecord) -> bool:
        return await asyncio.to_thread(self.write_cdr, cdr)

    async def acdrs(
        self, limit: int = 100, uuid: str | None = None, call_uuid: str | None = None
    ) -> list[CdrRecord]:
        return await asyncio.to_thread(self.cdrs, limit, uuid, call_uuid)

    async def aupsert_registration(self, reg: RegistrationRecord) -> None:
        await asyncio.to_thread(self.upsert_registration, reg)

    async def adelete_registration(
        self, profile: str, user: str, realm: str, contact: str | None = None
    ) -> int:
        return await asyncio.to_thread(self.delete_registration, profile, user, realm, contact)

    async def aregistrations(
        self,
        profile: str | None = None,
        user: str | None = None,
        realm: str | None = None,
        include_expired: bool = False,
        now: datetime | None = None,
    ) -> list[RegistrationRecord]:
        return await asyncio.to_thread(self.registrations, profile, user, realm, include_expired, now)

    async def aexpire_registrations(self, now: datetime | None = None) -> list[RegistrationRecord]:
        return await asyncio.to_thread(self.expire_registrations, now)

    async def aupsert_channel(self, channel: ChannelRecord) -> None:
        await asyncio.to_thread(self.upsert_channel, channel)

    async def adelete_channel(self, uuid: str) -> bool:
        return await asyncio.to_thread(self.delete_channel, uuid)

    async def achannels(self, node: str | None = None) -> list[ChannelRecord]:
        return await asyncio.to_thread(self.channels, node)

    async def aclear_node(self, node: str) -> int:
        return await asyncio.to_thread(self.clear_node, node)


# -- records <-> rows ----------------------------------------------------------------


def _cdr_values(cdr: CdrRecord) -> dict[str, Any]:
    q = cdr.quality
    return {
        "uuid": cdr.uuid,
        "call_uuid": cdr.call_uuid,
        "bleg_uuid": cdr.bleg_uuid,
        "direction": cdr.direction,
        "channel_name": cdr.channel_name,
        "caller_id_name": cdr.caller_id_name,
        "caller_id_number": cdr.caller_id_number,
        "destination_number": cdr.destination_number,
        "context": cdr.context,
        "node": cdr.node,
        "start_stamp": cdr.start,
        "answer_stamp": cdr.answer,
        "end_stamp": cdr.end,
        "duration": cdr.duration,
        "billsec": cdr.billsec,
        "hangup_cause": cdr.hangup_cause.name,
        "hangup_cause_q850": int(cdr.hangup_cause),
        "sip_status": cdr.sip_status,
        "endpoint_disposition": cdr.endpoint_disposition,
        "read_codec": cdr.read_codec,
        "write_codec": cdr.write_codec,
        "packets_in": q.packets_in,
        "packets_out": q.packets_out,
        "packets_lost": q.packets_lost,
        "jitter_ms": q.jitter_ms,
        "mos": q.mos,
        "plc_frames": q.plc_frames,
        "fec_frames": q.fec_frames,
        "variables": json.dumps(dict(cdr.variables), sort_keys=True, ensure_ascii=False),
    }


def _cause(name: str, code: int) -> HangupCause:
    if name in HangupCause.__members__:
        return HangupCause[name]
    try:
        return HangupCause(code)
    except ValueError:
        return HangupCause.NONE


def _cdr_record(row: Cdr) -> CdrRecord:
    return CdrRecord(
        id=row.id,
        uuid=row.uuid,
        call_uuid=row.call_uuid,
        bleg_uuid=row.bleg_uuid,
        direction=row.direction,
        channel_name=row.channel_name,
        caller_id_name=row.caller_id_name,
        caller_id_number=row.caller_id_number,
        destination_number=row.destination_number,
        context=row.context,
        node=row.node,
        start=row.start_stamp,
        answer=row.answer_stamp,
        end=row.end_stamp,
        hangup_cause=_cause(row.hangup_cause, row.hangup_cause_q850),
        sip_status=row.sip_status,
        endpoint_disposition=row.endpoint_disposition,
        read_codec=row.read_codec,
        write_codec=row.write_codec,
        quality=MediaQuality(
            packets_in=row.packets_in,
            packets_out=row.packets_out,
            packets_lost=row.packets_lost,
            jitter_ms=row.jitter_ms,
            mos=row.mos,
            plc_frames=row.plc_frames,
            fec_frames=row.fec_frames,
        ),
        variables=json.loads(row.variables),
    )


def _reg_values(reg: RegistrationRecord) -> dict[str, Any]:
    return {
        "profile": reg.profile,
        "user": reg.user,
        "realm": reg.realm,
        "contact": reg.contact,
        "call_id": reg.call_id,
        "expires_at": reg.expires_at,
        "network_ip": reg.network_ip,
        "network_port": reg.network_port,
        "transport": reg.transport,
        "user_agent": reg.user_agent,
        "received": reg.received,
        "nat": reg.nat,
        "node": reg.node,
    }


def _reg_record(row: Registration) -> RegistrationRecord:
    return RegistrationRecord(
        profile=row.profile,
        user=row.user,
        realm=row.realm,
        contact=row.contact,
        call_id=row.call_id,
        expires_at=row.expires_at,
        network_ip=row.network_ip,
        network_port=row.network_port,
        transport=row.transport,
        user_agent=row.user_agent,
        received=row.received,
        nat=row.nat,
        node=row.node,
    )


def _reg_sort_key(reg: RegistrationRecord) -> tuple[str, str, str, str]:
    return (reg.profile, reg.realm, reg.user, reg.contact)


def _channel_values(ch: ChannelRecord) -> dict[str, Any]:
    return {
        "uuid": ch.uuid,
        "direction": ch.direction,
        "name": ch.name,
        "state": ch.state.value,
        "callstate": ch.callstate.value,
        "created": ch.created,
        "cid_name": ch.cid_name,
        "cid_num": ch.cid_num,
        "ip_addr": ch.ip_addr,
        "dest": ch.dest,
        "context": ch.context,
        "application": ch.application,
        "application_data": ch.application_data,
        "read_codec": ch.read_codec,
        "write_codec": ch.write_codec,
        "call_uuid": ch.call_uuid,
        "node": ch.node,
    }


def _channel_record(row: LiveChannel) -> ChannelRecord:
    return ChannelRecord(
        uuid=row.uuid,
        direction=row.direction,
        name=row.name,
        state=ChannelState(row.state),
        callstate=CallState(row.callstate),
        created=row.created,
        cid_name=row.cid_name,
        cid_num=row.cid_num,
        ip_addr=row.ip_addr,
        dest=row.dest,
        context=row.context,
        application=row.application,
        application_data=row.application_data,
        read_codec=row.read_codec,
        write_codec=row.write_codec,
        call_uuid=row.call_uuid,
        node=row.node,
    )
