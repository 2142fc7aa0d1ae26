"""Alembic migrations of the store (SQLite and PostgreSQL), applied by ``storage.engine``."""
