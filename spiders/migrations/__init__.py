"""Alembic migrations of the item store (SQLite and PostgreSQL). Applied by Store()."""
