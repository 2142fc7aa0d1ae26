"""The store's schema as SQLAlchemy Core tables.

These tables and the Alembic revisions in ``storage/migrations/versions`` describe the same
schema; a change to one needs a new revision in the other (a test compares them).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()
TZ = DateTime(timezone=True)

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
    Column("published", TZ),
    Column("published_guessed", Boolean, nullable=False, default=False),
    Column("first_seen", TZ, nullable=False),
    Column("updated_at", TZ),
    Column("content_hash", String(40), nullable=False),
    Column("matched_version", String(32)),
    UniqueConstraint("source_id", "url_key", name="uq_items_source_url"),
    Index("ix_items_source_guid", "source_id", "guid"),
    Index("ix_items_source_hash", "source_id", "content_hash"),
    Index("ix_items_first_seen", "first_seen"),
    Index("ix_items_source_first_seen", "source_id", "first_seen"),     # health: last new item per source
    Index("ix_items_unmatched", "matched_version", "id"),
    sqlite_autoincrement=True,       # an id is never reused: journals and links name items by id
)

matches = Table(
    "matches", metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("topic_id", String(64), nullable=False),
    Column("score", Float, nullable=False, default=1.0),
    Column("evidence", JSON, nullable=False),
    Column("rules_version", String(32), nullable=False),
    Column("matched_at", TZ, nullable=False),
    UniqueConstraint("item_id", "topic_id", name="uq_matches_item_topic"),
    Index("ix_matches_topic", "topic_id"),
)

# One row per (subscriber, item). A row is first *claimed* (state "sending", with the
# claiming process as owner and a lease), then marked "sent" once the mail server accepted
# the digest. The unique key is what makes two processes unable to send the same item.
deliveries = Table(
    "deliveries", metadata,
    Column("id", Integer, primary_key=True),
    Column("subscriber", String(128), nullable=False),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("state", String(16), nullable=False, default="sent"),      # sending | sent
    Column("owner", String(128)),
    Column("lease_until", TZ),
    Column("shown", Boolean, nullable=False, default=True),           # False: counted under "N more"
    Column("message_id", String(255)),
    Column("delivered_at", TZ),
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
    Column("created_at", TZ, nullable=False),
    Column("slot", TZ),                                      # the cadence slot this digest serves
    Index("ix_digests_subscriber", "subscriber", "created_at"),
)

crawl_runs = Table(
    "crawl_runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", String(64), nullable=False),
    Column("started_at", TZ, nullable=False),
    Column("finished_at", TZ, nullable=False),
    Column("status", String(16), nullable=False),          # ok | not_modified | failed
    Column("http_status", Integer),
    Column("items_found", Integer, nullable=False, default=0),
    Column("items_new", Integer, nullable=False, default=0),
    Column("items_updated", Integer, nullable=False, default=0),
    Column("duration", Float, nullable=False, default=0.0),
    Column("error", Text),
    Column("warnings", JSON),
    Column("report", JSON),                                  # what each selector / method found
    Column("used_fallback", Boolean, nullable=False, default=False),
    Index("ix_crawl_runs_source", "source_id", "finished_at"),
    Index("ix_crawl_runs_finished", "finished_at"),        # old runs, for pruning
)

# When each periodic chore last ran (e.g. pruning old crawl runs, once a day).
housekeeping = Table(
    "housekeeping", metadata,
    Column("task", String(32), primary_key=True),
    Column("done_at", TZ, nullable=False),
)

source_alerts = Table(
    "source_alerts", metadata,
    Column("source_id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),             # failing | quiet
    Column("detail", Text, nullable=False),
    Column("since", TZ, nullable=False),
    Column("notified", Boolean, nullable=False, default=False),
    Column("recovered_at", TZ),
)

http_cache = Table(
    "http_cache", metadata,
    Column("url", String(1024), primary_key=True),
    Column("etag", String(512)),
    Column("last_modified", String(128)),
)

# What retention removed: enough to know an item again (its identity keys, hashed) when a
# feed still carries it, so a pruned item is never stored and sent again as new.
tombstones = Table(
    "tombstones", metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", String(64), nullable=False),
    Column("key", String(40), nullable=False),              # sha1 of "g:"+guid, "u:"+url key or "h:"+content hash
    Column("pruned_at", TZ, nullable=False),
    UniqueConstraint("source_id", "key", name="uq_tombstones_source_key"),
)

# Analysts' verdicts from the links in their digests, and missed stories they report.
feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True),
    Column("link_id", String(64), nullable=False),         # the signed link's id: one verdict per link
    Column("subscriber", String(128), nullable=False),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="SET NULL")),
    Column("topic_id", String(64)),
    Column("verdict", String(16), nullable=False),         # relevant | not_relevant | missed
    Column("url", Text),                                    # for a reported missed story
    Column("title", Text),
    Column("created_at", TZ, nullable=False),
    UniqueConstraint("link_id", name="uq_feedback_link"),
    Index("ix_feedback_item", "item_id"),
)

# Earlier versions of settings.yaml saved by the web workbench, with their rules hash.
settings_versions = Table(
    "settings_versions", metadata,
    Column("id", Integer, primary_key=True),
    Column("rules_version", String(32), nullable=False),
    Column("content", Text, nullable=False),
    Column("saved_at", TZ, nullable=False),
    Column("saved_by", String(128)),
)
