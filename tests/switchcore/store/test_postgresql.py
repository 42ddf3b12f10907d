"""The same store on PostgreSQL (what several nodes share), on a throwaway local server.

Skipped when the PostgreSQL server binaries or the psycopg driver are missing.
The server listens on a Unix socket only (no TCP port to clash with), in a
temporary directory; as root it runs as `nobody`, since postgres refuses root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from switchcore.causes import HangupCause
from switchcore.store import CdrRecord, MediaQuality, RegistrationRecord, Store, migrate

pytest.importorskip("psycopg")
if not (shutil.which("initdb") and shutil.which("pg_ctl")):
    pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed", allow_module_level=True)

pytestmark = pytest.mark.slow

MakeCdr = Callable[..., CdrRecord]
MakeReg = Callable[..., RegistrationRecord]


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0 and shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--", *cmd]
    return cmd


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    """Start a private PostgreSQL; yield the socket directory."""
    root = Path(tempfile.mkdtemp(prefix="switchcore-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "nobody")
        shutil.chown(sock, "nobody")
        root.chmod(0o755)
    run = {"check": True, "capture_output": True, "timeout": 120}
    stop = _as_server_user(["pg_ctl", "-D", str(data), "-m", "immediate", "stop"])
    try:
        subprocess.run(_as_server_user(["initdb", "-A", "trust", "-U", "switch", "-D", str(data)]), **run)  # type: ignore[call-overload]
        opts = f"-c listen_addresses='' -c unix_socket_directories={sock} -c fsync=off"
        # -l: the server's output goes to a file, so pg_ctl's pipes close when it returns.
        start = ["pg_ctl", "-D", str(data), "-l", str(root / "server.log"), "-o", opts, "-w", "start"]
        subprocess.run(_as_server_user(start), **run)  # type: ignore[call-overload]
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        subprocess.run(stop, capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"cannot start a local PostgreSQL: {exc}")
    try:
        yield str(sock)
    finally:
        subprocess.run(stop, capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh database per test."""
    admin = create_engine(
        f"postgresql+psycopg://switch@/postgres?host={pg_server}", isolation_level="AUTOCOMMIT"
    )
    name = f"t{os.getpid()}_{threading.get_ident() % 100000}_{os.urandom(3).hex()}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+psycopg://switch@/{name}?host={pg_server}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    store = Store(pg_url)
    store.open()
    yield store
    store.close()


def test_open_creates_the_schema_on_postgresql(pg_store: Store) -> None:
    assert pg_store.schema_revision() == "0002"
    names = set(inspect(pg_store.engine).get_table_names())
    assert names == {"alembic_version", "cdrs", "registrations", "live_channels"}


def test_cdr_round_trip_on_postgresql(pg_store: Store, make_cdr: MakeCdr, t0: datetime) -> None:
    cdr = make_cdr(
        hangup_cause=HangupCause.USER_BUSY,
        sip_status=486,
        quality=MediaQuality(packets_in=10, packets_lost=1, jitter_ms=2.5, mos=4.1),
        variables={"k": "v"},
    )
    assert pg_store.write_cdr(cdr) is True
    assert pg_store.write_cdr(cdr) is False
    [back] = pg_store.cdrs()
    assert back.start == t0
    assert back.quality == cdr.quality
    assert back.hangup_cause is HangupCause.USER_BUSY
    assert back.variables == {"k": "v"}


def test_registration_upsert_and_expiry_on_postgresql(
    pg_store: Store, make_reg: MakeReg, t0: datetime
) -> None:
    pg_store.upsert_registration(make_reg(user="1000", expires_in=30, nat=True))
    pg_store.upsert_registration(make_reg(user="1000", expires_in=60, nat=True, user_agent="again"))
    pg_store.upsert_registration(make_reg(user="1001", expires_in=3600))
    [first, _] = pg_store.registrations(now=t0)
    assert (first.user_agent, first.nat) == ("again", True)
    gone = pg_store.expire_registrations(t0 + timedelta(seconds=60))
    assert [r.user for r in gone] == ["1000"]
    assert [r.user for r in pg_store.registrations(now=t0)] == ["1001"]


def test_a_batch_of_registration_changes_on_postgresql(
    pg_store: Store, make_reg: MakeReg, t0: datetime
) -> None:
    old, kept = make_reg(user="1000"), make_reg(user="1001")
    pg_store.upsert_registration(old)
    pg_store.upsert_registration(kept)
    again = make_reg(user="1001", expires_in=7200, user_agent="again")
    new = make_reg(user="1002")
    pg_store.write_registrations(
        "internal",
        [
            (old.user, old.realm, old.contact, None),
            (again.user, again.realm, again.contact, again),
            (new.user, new.realm, new.contact, new),
        ],
    )
    assert pg_store.registrations(now=t0) == [again, new]


def test_two_nodes_opening_one_postgresql_at_once_both_end_at_head(pg_url: str) -> None:
    stores = [Store(pg_url) for _ in range(3)]
    errors: list[BaseException] = []

    def open_one(store: Store) -> None:
        try:
            store.open()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert errors == []
        assert {s.schema_revision() for s in stores} == {"0002"}
    finally:
        for s in stores:
            s.close()


def test_threads_share_registrations_on_postgresql(pg_store: Store, make_reg: MakeReg, t0: datetime) -> None:
    def work(n: int) -> None:
        for i in range(50):
            pg_store.upsert_registration(make_reg(user=f"{n}-{i}"))
            pg_store.upsert_registration(make_reg(user="shared", user_agent=str(n)))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(pg_store.registrations(now=t0)) == 201


def test_upgrade_from_0001_on_postgresql(pg_url: str) -> None:
    engine = create_engine(pg_url)
    migrate.upgrade(engine, "0001")
    assert migrate.current_revision(engine) == "0001"
    engine.dispose()
    store = Store(pg_url)
    store.open()
    try:
        assert store.schema_revision() == "0002"
    finally:
        store.close()
