"""The store's data-access layer: CDRs, registrations and live channels.

Theory of operation: one `Store` owns one SQLAlchemy engine (thread-safe, with
a connection pool), and every method is one short transaction on a connection
of its own, so the asyncio switch can call any of them from worker threads
(`asyncio.to_thread`; the `a*` methods do exactly that).  Every write is a
single SQL statement (`INSERT ... ON CONFLICT` upserts, `DELETE ...
RETURNING`), so concurrent writers never hold a read snapshot they then try to
upgrade; SQLite's busy timeout simply queues them.  Methods return frozen
records (`records.py`), never ORM objects or rows.

The statements are SQLAlchemy 2.0 Core (`select`, `insert`, `delete`) on the
models' tables, built once at `open()` and executed with parameters: the ORM
`Session` layer and per-call statement building cost about 70% more Python per
upsert, and registrations are written up to ~2,000/s.

SQLite (the default) runs in WAL mode with `synchronous=NORMAL`: a committed
write survives the process stopping or being killed; only an OS crash or power
loss can take back the last few commits.  `write_cdr` returns after its commit,
so a channel that awaits it in REPORTING before DESTROY never loses its CDR.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError, StatementError
from sqlalchemy.pool import StaticPool

from . import migrate
from .errors import StoreError, StoreNotOpen
from .records import CdrRecord, ChannelRecord, RegistrationRecord
from .rows import (
    CDRS,
    LIVE_CHANNELS,
    REGISTRATION_KEY,
    REGISTRATIONS,
    cdr_record,
    cdr_values,
    channel_record,
    channel_values,
    reg_record,
    reg_sort_key,
    reg_values,
)

DB_FILE_NAME = "switchcore.db"
SQLITE_BUSY_TIMEOUT_S = 10.0


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


class _Upsert:
    """A prebuilt 'insert, or on key conflict update the other columns' for one table and dialect.

    SQLite and PostgreSQL get one `INSERT ... ON CONFLICT (key) DO UPDATE` statement
    (or `DO NOTHING` when `update=False`); other backends an UPDATE then INSERT.
    """

    def __init__(self, dialect: str, table: Table, key: Sequence[str], update: bool = True) -> None:
        self.table = table
        self.key = tuple(key)
        self.update = update
        self.native: Executable | None = None
        if dialect in ("sqlite", "postgresql"):
            ins = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)
            if update:
                others = [c.name for c in table.columns if c.name not in self.key and not c.primary_key]
                self.native = ins.on_conflict_do_update(
                    index_elements=list(self.key), set_={name: ins.excluded[name] for name in others}
                )
            else:
                # RETURNING tells whether a row went in: with PostgreSQL's implicit
                # RETURNING of the new id, rowcount is not reliable for DO NOTHING.
                self.native = ins.on_conflict_do_nothing(index_elements=list(self.key)).returning(
                    table.c[self.key[0]]
                )

    def __call__(self, conn: Connection, values: dict[str, Any]) -> bool:
        """Run it; True if a row was inserted or updated."""
        if self.native is not None:
            result = conn.execute(self.native, values)
            return result.first() is not None if result.returns_rows else bool(result.rowcount)
        where = [self.table.c[k] == values[k] for k in self.key]
        if self.update:
            changes = {k: v for k, v in values.items() if k not in self.key}
            if conn.execute(update(self.table).where(*where).values(**changes)).rowcount:
                return True
        elif conn.execute(select(self.table.c[self.key[0]]).where(*where)).first() is not None:
            return False
        try:
            with conn.begin_nested():
                conn.execute(insert(self.table).values(**values))
        except IntegrityError:
            # A concurrent writer inserted the same key first: theirs stays, or ours updates it.
            if not self.update:
                return False
            conn.execute(update(self.table).where(*where).values(**changes))
        return True

    def many(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Run it for several rows: one executemany where the statement is native."""
        if self.native is not None and self.update:
            if rows:
                conn.execute(self.native, list(rows))
            return
        for values in rows:
            self(conn, values)


class Store:
    """The switch's database: `Store(url).open()`, then the methods below, then `close()`.

    `url` is any SQLAlchemy URL; `default_url(data_dir)` gives the SQLite file.
    Opening creates or upgrades the schema to the newest revision.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        # An in-memory SQLite database lives in one connection shared by every
        # thread (StaticPool); this lock keeps their transactions apart.  A file
        # or server database gets a pool and needs no lock.
        self._lock: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        self._upsert_reg: _Upsert
        self._upsert_channel: _Upsert
        self._insert_cdr: _Upsert
        self._insert_cdrs_many: Executable | None = None

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
        dialect = engine.dialect.name
        self._upsert_reg = _Upsert(dialect, REGISTRATIONS, REGISTRATION_KEY)
        self._upsert_channel = _Upsert(dialect, LIVE_CHANNELS, ("uuid",))
        self._insert_cdr = _Upsert(dialect, CDRS, ("uuid",), update=False)
        if dialect in ("sqlite", "postgresql"):
            many = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(CDRS)
            self._insert_cdrs_many = many.on_conflict_do_nothing(index_elements=["uuid"])
        self._engine = engine

    def close(self) -> None:
        """Release the engine's connections; methods raise `StoreNotOpen` afterwards."""
        engine, self._engine = self._engine, None
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
    def _tx(self) -> Iterator[Connection]:
        """One short transaction: commit on success, roll back and wrap driver errors on failure."""
        engine = self.engine
        try:
            with self._lock, engine.begin() as conn:
                yield conn
        except StatementError as exc:
            if isinstance(exc.orig, StoreError):  # e.g. NaiveTimestamp raised while binding
                raise exc.orig from None
            raise StoreError(str(exc)) from exc
        except SQLAlchemyError as exc:
            raise StoreError(str(exc)) from exc

    # -- CDRs -------------------------------------------------------------------

    def write_cdr(self, cdr: CdrRecord) -> bool:
        """Store one leg's CDR; returns False (and stores nothing) if that leg's CDR is already there.

        Returns only after the commit, so a retry after a crash or timeout is safe.
        """
        values = cdr_values(cdr)
        with self._tx() as conn:
            return self._insert_cdr(conn, values)

    def write_cdrs(self, cdrs: list[CdrRecord]) -> None:
        """Store several legs' CDRs in one transaction and one statement (the CDR writer's batches).

        A leg whose CDR is already stored is skipped, as `write_cdr` does, but not reported.
        """
        if not cdrs:
            return
        values = [cdr_values(cdr) for cdr in cdrs]
        with self._tx() as conn:
            if self._insert_cdrs_many is not None:
                conn.execute(self._insert_cdrs_many, values)  # executemany
            else:
                for v in values:
                    self._insert_cdr(conn, v)

    def cdrs(
        self, limit: int = 100, uuid: str | None = None, call_uuid: str | None = None
    ) -> list[CdrRecord]:
        """The newest CDRs first (by start time), optionally only one leg or one call's legs."""
        c = CDRS.c
        query = select(CDRS).order_by(c.start_stamp.desc(), c.id.desc()).limit(limit)
        if uuid is not None:
            query = query.where(c.uuid == uuid)
        if call_uuid is not None:
            query = query.where(c.call_uuid == call_uuid)
        with self._tx() as conn:
            return [cdr_record(row) for row in conn.execute(query).mappings()]

    # -- registrations ------------------------------------------------------------

    def upsert_registration(self, reg: RegistrationRecord) -> None:
        """Add a contact, or refresh the one with the same (profile, user, realm, contact)."""
        values = reg_values(reg)
        with self._tx() as conn:
            self._upsert_reg(conn, values)

    def write_registrations(
        self, profile: str, changes: Iterable[tuple[str, str, str, RegistrationRecord | None]]
    ) -> None:
        """A registrar's batch of contact changes in one transaction: a record upserts, None deletes.

        Each change is (user, realm, contact, record or None). One commit for the
        batch instead of one per contact: at thousands of REGISTERs a second the
        per-row commits were most of the write-behind thread's time (and that
        thread shares the interpreter with the event loop).
        """
        c = REGISTRATIONS.c
        gone: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        for user, realm, contact, record in changes:
            if record is None:
                gone.append({"p": profile, "u": user, "r": realm, "k": contact})
            else:
                rows.append(reg_values(record))
        # A batch holds each (user, realm, contact) once, so deletes and upserts never
        # touch the same row and can each go as one executemany.
        with self._tx() as conn:
            if gone:
                where = (
                    (c.profile == bindparam("p"))
                    & (c.user == bindparam("u"))
                    & (c.realm == bindparam("r"))
                    & (c.contact == bindparam("k"))
                )
                conn.execute(delete(REGISTRATIONS).where(where), gone)
            self._upsert_reg.many(conn, rows)

    def delete_registration(self, profile: str, user: str, realm: str, contact: str | None = None) -> int:
        """Remove one contact, or every contact of the user when `contact` is None; returns how many."""
        c = REGISTRATIONS.c
        query = delete(REGISTRATIONS).where(c.profile == profile, c.user == user, c.realm == realm)
        if contact is not None:
            query = query.where(c.contact == contact)
        with self._tx() as conn:
            return conn.execute(query).rowcount

    def registrations(
        self,
        profile: str | None = None,
        user: str | None = None,
        realm: str | None = None,
        include_expired: bool = False,
        now: datetime | None = None,
    ) -> list[RegistrationRecord]:
        """Registered contacts matching the filters, ordered by profile, realm, user, contact.

        Expired contacts (expires_at <= now; `now` defaults to the clock) are left
        out unless `include_expired`, even before `expire_registrations` removes them.
        """
        c = REGISTRATIONS.c
        query = select(REGISTRATIONS).order_by(c.profile, c.realm, c.user, c.contact)
        if profile is not None:
            query = query.where(c.profile == profile)
        if user is not None:
            query = query.where(c.user == user)
        if realm is not None:
            query = query.where(c.realm == realm)
        if not include_expired:
            query = query.where(c.expires_at > (now or _utcnow()))
        with self._tx() as conn:
            return [reg_record(row) for row in conn.execute(query).mappings()]

    def expire_registrations(self, now: datetime | None = None) -> list[RegistrationRecord]:
        """Remove every contact whose expiry has passed and return them (for `sofia::expire` events)."""
        expired = REGISTRATIONS.c.expires_at <= (now or _utcnow())
        with self._tx() as conn:
            if conn.dialect.delete_returning:
                rows = conn.execute(delete(REGISTRATIONS).where(expired).returning(*REGISTRATIONS.c))
                gone = [reg_record(row) for row in rows.mappings()]
            else:
                found = conn.execute(select(REGISTRATIONS).where(expired)).mappings().all()
                gone = [reg_record(row) for row in found]
                ids = [row["id"] for row in found]
                if ids:
                    conn.execute(delete(REGISTRATIONS).where(REGISTRATIONS.c.id.in_(ids)))
        return sorted(gone, key=reg_sort_key)

    # -- live channels -----------------------------------------------------------

    def upsert_channel(self, channel: ChannelRecord) -> None:
        """Insert the channel, or replace its row (state changes, answer, bridge)."""
        values = channel_values(channel)
        with self._tx() as conn:
            self._upsert_channel(conn, values)

    def delete_channel(self, uuid: str) -> bool:
        """Remove a destroyed channel's row; False if there was none."""
        with self._tx() as conn:
            return bool(conn.execute(delete(LIVE_CHANNELS).where(LIVE_CHANNELS.c.uuid == uuid)).rowcount)

    def sync_channels(self, upserts: list[ChannelRecord], deletes: list[str]) -> None:
        """Apply many channel changes in one transaction (the core mirrors live channels in batches)."""
        with self._tx() as conn:
            for channel in upserts:
                self._upsert_channel(conn, channel_values(channel))
            if deletes:
                conn.execute(delete(LIVE_CHANNELS).where(LIVE_CHANNELS.c.uuid.in_(deletes)))

    def channels(self, node: str | None = None) -> list[ChannelRecord]:
        """Live channels, oldest first; only this node's when `node` is given."""
        c = LIVE_CHANNELS.c
        query = select(LIVE_CHANNELS).order_by(c.created, c.uuid)
        if node is not None:
            query = query.where(c.node == node)
        with self._tx() as conn:
            return [channel_record(row) for row in conn.execute(query).mappings()]

    def clear_node(self, node: str) -> int:
        """Remove the channel rows a previous run of `node` left behind; call at start-up."""
        with self._tx() as conn:
            return conn.execute(delete(LIVE_CHANNELS).where(LIVE_CHANNELS.c.node == node)).rowcount

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
