"""Alembic's environment for the store.

Alembic executes this file itself when a command runs; it is not meant to be
imported.  `switchcore.store.migrate` passes the open connection in
`config.attributes["connection"]`, so migrations run on the store's own engine
and inside its transaction.  Without one (the `alembic` command line with
`-x url=...` or `sqlalchemy.url` set), it builds an engine from the URL.
SQLite cannot ALTER most things, so autogenerate renders batch operations
(copy-and-move), which work on every backend.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from switchcore.store.models import Base


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database: pass -x url=... or set sqlalchemy.url")
    return url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """Print the SQL instead of running it (`alembic upgrade head --sql`)."""
    context.configure(url=_url(), target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    engine = create_engine(_url())
    try:
        with engine.begin() as own:
            _run(own)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
