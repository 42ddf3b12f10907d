"""Schema versioning: Alembic migrations applied at open, from an empty file or an older revision."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from switchcore.store import RegistrationRecord, SchemaTooNew, Store, default_url, head_revision, migrate
from switchcore.store.models import Base


def _index_names(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {ix["name"] for ix in inspect(engine).get_indexes(table) if ix["name"]}
    finally:
        engine.dispose()


def test_revision_chain_is_0001_then_0002() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    chain = [rev.revision for rev in script.walk_revisions()]
    assert chain == ["0002", "0001"]
    assert head_revision() == "0002"


def test_open_creates_schema_in_empty_file_and_missing_directory(tmp_path: Path) -> None:
    url = default_url(tmp_path / "data" / "db")
    store = Store(url)
    store.open()
    try:
        assert (tmp_path / "data" / "db" / "switchcore.db").is_file()
        assert store.schema_revision() == "0002"
        names = set(inspect(store.engine).get_table_names())
        assert names == {"alembic_version", "cdrs", "registrations", "live_channels"}
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
    finally:
        store.close()


def test_migrated_schema_matches_the_models(store: Store) -> None:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_open_upgrades_a_database_left_at_0001_and_keeps_its_rows(tmp_path: Path) -> None:
    url = default_url(tmp_path)
    engine = create_engine(url)
    migrate.upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO registrations (profile, user, realm, contact, call_id, expires_at, network_ip,"
                " network_port, transport, user_agent, received, nat, node) VALUES ('internal', '1000',"
                " 'example.test', 'sip:1000@127.0.0.1:5062', 'c1', '2099-01-01 00:00:00.000000', '127.0.0.1',"
                " 5062, 'udp', 'old-phone', '', 0, 'n1')"
            )
        )
    assert migrate.current_revision(engine) == "0001"
    engine.dispose()
    assert "ix_registrations_expires_at" not in _index_names(url, "registrations")

    store = Store(url)
    store.open()
    try:
        assert store.schema_revision() == "0002"
        [reg] = store.registrations(now=datetime(2026, 1, 1, tzinfo=UTC))
        assert reg.user_agent == "old-phone"
        assert reg.expires_at == datetime(2099, 1, 1, tzinfo=UTC)
    finally:
        store.close()
    assert "ix_registrations_expires_at" in _index_names(url, "registrations")
    assert {"ix_cdrs_call_uuid", "ix_cdrs_start_stamp"} <= _index_names(url, "cdrs")


def test_opening_twice_is_a_no_op(tmp_path: Path, make_reg: Callable[..., RegistrationRecord]) -> None:
    url = default_url(tmp_path)
    first = Store(url)
    first.open()
    first.upsert_registration(make_reg())
    first.close()
    before = (tmp_path / "switchcore.db").stat().st_size

    again = Store(url)
    again.open()
    try:
        assert again.schema_revision() == "0002"
        assert len(again.registrations(include_expired=True)) == 1
        with again.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
    finally:
        again.close()
    assert (tmp_path / "switchcore.db").stat().st_size == before


def test_downgrade_to_0001_drops_only_the_lookup_indexes(tmp_path: Path) -> None:
    url = default_url(tmp_path)
    engine = create_engine(url)
    migrate.upgrade(engine)
    cfg = migrate.alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    assert migrate.current_revision(engine) == "0001"
    engine.dispose()
    assert "ix_registrations_expires_at" not in _index_names(url, "registrations")
    assert _index_names(url, "cdrs").isdisjoint({"ix_cdrs_call_uuid", "ix_cdrs_start_stamp"})
    assert "ix_live_channels_node" in _index_names(url, "live_channels")


def test_database_from_a_newer_switch_is_refused(tmp_path: Path) -> None:
    url = default_url(tmp_path)
    store = Store(url)
    store.open()
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    store.close()

    newer = Store(url)
    with pytest.raises(SchemaTooNew) as info:
        newer.open()
    assert str(info.value) == "database schema revision 0099 is unknown to this switch (its head is 0002)"
    assert not newer.is_open
