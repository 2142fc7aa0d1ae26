"""SQL that differs between SQLite and PostgreSQL, in one place."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection


def insert_ignore(conn: Connection, table: Table, keys: list[str]) -> Any:
    """INSERT … ON CONFLICT (keys) DO NOTHING, for this connection's database. (Each
    dialect's module is imported here, when used: a run on SQLite never loads PostgreSQL's.)"""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).on_conflict_do_nothing(index_elements=keys)
    raise NotImplementedError(f"newswatch supports SQLite and PostgreSQL, not {conn.dialect.name}")
