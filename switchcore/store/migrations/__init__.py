"""Alembic environment of the store; run by `switchcore.store.migrate`, not imported."""
