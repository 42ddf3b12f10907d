"""The switch's store: CDRs, registrations and live channels in SQLAlchemy.

    store = Store(settings.get("db-url") or default_url(data_dir))
    store.open()                      # creates or upgrades the schema (Alembic)
    await store.awrite_cdr(record)    # in REPORTING, before DESTROY
    store.close()

A SQLite file in the data directory by default; any SQLAlchemy URL otherwise
(PostgreSQL when several nodes share registrations).
"""

from .errors import NaiveTimestamp, SchemaTooNew, StoreError, StoreNotOpen
from .migrate import head_revision
from .records import CdrRecord, ChannelRecord, MediaQuality, RegistrationRecord
from .store import DB_FILE_NAME, Store, default_url

__all__ = [
    "DB_FILE_NAME",
    "CdrRecord",
    "ChannelRecord",
    "MediaQuality",
    "NaiveTimestamp",
    "RegistrationRecord",
    "SchemaTooNew",
    "Store",
    "StoreError",
    "StoreNotOpen",
    "default_url",
    "head_revision",
]
