"""The store's schema (SQLAlchemy Core tables), its engine, and its migrations.

The tables here and the Alembic revisions in spiders/migrations/ describe the same schema;
a change to one needs a new revision in the other.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import (
    JSON, Boolean, Column, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, Table,
    Text, UniqueConstraint, create_engine, event, inspect,
)
from sqlalchemy.engine import Engine

metadata = MetaData()

items = Table(
    "items", metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("url_key", String(512), nullable=False),
    Column("guid", String(512)),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("body", Text, nullable=False, default=""),
    Column("language", String(16), nullable=False),
    Column("published", DateTime(timezone=True)),
    Column("published_guessed", Boolean, nullable=False, default=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True)),
    Column("content_hash", String(40), nullable=False),
    Column("matched_version", String(32)),
    UniqueConstraint("source_id", "url_key", name="uq_items_source_url"),
    Index("ix_items_source_guid", "source_id", "guid"),
    Index("ix_items_source_hash", "source_id", "content_hash"),
    Index("ix_items_first_seen", "first_seen"),
    Index("ix_items_unmatched", "matched_version", "id"),
)

matches = Table(
    "matches", metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("topic_id", String(64), nullable=False),
    Column("score", Float, nullable=False, default=1.0),
    Column("evidence", JSON, nullable=False),
    Column("rules_version", String(32), nullable=False),
    Column("matched_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("item_id", "topic_id", name="uq_matches_item_topic"),
    Index("ix_matches_topic", "topic_id"),
)

deliveries = Table(
    "deliveries", metadata,
    Column("id", Integer, primary_key=True),
    Column("subscriber", String(128), nullable=False),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", String(255), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("subscriber", "item_id", name="uq_deliveries_subscriber_item"),
    Index("ix_deliveries_item", "item_id"),
)

digests = Table(
    "digests", metadata,
    Column("id", Integer, primary_key=True),
    Column("subscriber", String(128), nullable=False),
    Column("message_id", String(255), nullable=False),
    Column("status", String(16), nullable=False),          # sent | failed
    Column("items", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_digests_subscriber", "subscriber", "created_at"),
)

crawl_runs = Table(
    "crawl_runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", String(64), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),          # ok | not_modified | failed
    Column("http_status", Integer),
    Column("items_found", Integer, nullable=False, default=0),
    Column("items_new", Integer, nullable=False, default=0),
    Column("items_updated", Integer, nullable=False, default=0),
    Column("duration", Float, nullable=False, default=0.0),
    Column("error", Text),
    Index("ix_crawl_runs_source", "source_id", "finished_at"),
)

source_alerts = Table(
    "source_alerts", metadata,
    Column("source_id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),             # failing | quiet
    Column("detail", Text, nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("notified", Boolean, nullable=False, default=False),
    Column("recovered_at", DateTime(timezone=True)),
)

http_cache = Table(
    "http_cache", metadata,
    Column("url", String(1024), primary_key=True),
    Column("etag", String(512)),
    Column("last_modified", String(128)),
)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the crawler child write while the parent reads; busy_timeout waits out
    # another writer instead of failing at once.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA cache_size=-32000")      # 32 MB of page cache: a large store stays fast
    cur.execute("PRAGMA synchronous=NORMAL")     # safe with WAL; a commit does not wait for fsync
    cur.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


_MIGRATED: set[str] = set()
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (once per database and process).

    A database made before migrations existed (tables, no alembic_version) is stamped
    with the first revision, whose schema it has, and upgraded from there.
    """
    key = str(engine.url)
    if key in _MIGRATED:
        return
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with engine.begin() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        if current != head:
            cfg.attributes["connection"] = conn
            if current is None and inspect(conn).has_table("items"):
                command.stamp(cfg, "0001")
            command.upgrade(cfg, "head")
    _MIGRATED.add(key)
