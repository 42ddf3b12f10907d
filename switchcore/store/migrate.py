"""Schema versioning: Alembic run from code, so an upgrade never needs a hand-edited database.

The Alembic `Config` is built here (no alembic.ini); `script_location` points
at the `migrations` package shipped inside `switchcore.store`.  `upgrade`
runs every revision between the database's and the newest one in a single
transaction on the caller's engine; on PostgreSQL it first takes an advisory
lock, so several nodes starting at once upgrade one after the other and the
later ones find nothing to do.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, text

from .errors import SchemaTooNew

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# pg_advisory_xact_lock key: any constant shared by every node; "swst" in ASCII.
_PG_LOCK_KEY = 0x73777374


def alembic_config() -> Config:
    """The Alembic configuration of the store, built in code."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    """The newest revision this switch knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _refuse_unknown(conn: Connection, cfg: Config) -> None:
    script = ScriptDirectory.from_config(cfg)
    head = script.get_current_head() or ""
    for rev in MigrationContext.configure(conn).get_current_heads():
        try:
            known = script.get_revision(rev)
        except CommandError:
            known = None
        if known is None:
            raise SchemaTooNew(rev, head)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (default: newest); a database already there is left alone."""
    cfg = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        _refuse_unknown(conn, cfg)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
