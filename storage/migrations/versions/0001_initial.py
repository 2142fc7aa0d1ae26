"""The first schema: items, matches, deliveries, digests, crawl runs, source alerts,
HTTP validators.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("url_key", sa.String(512), nullable=False),
        sa.Column("guid", sa.String(512)),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("published", TZ),
        sa.Column("published_guessed", sa.Boolean, nullable=False),
        sa.Column("first_seen", TZ, nullable=False),
        sa.Column("updated_at", TZ),
        sa.Column("content_hash", sa.String(40), nullable=False),
        sa.Column("matched_version", sa.String(32)),
        sa.UniqueConstraint("source_id", "url_key", name="uq_items_source_url"),
    )
    op.create_index("ix_items_source_guid", "items", ["source_id", "guid"])
    op.create_index("ix_items_source_hash", "items", ["source_id", "content_hash"])
    op.create_index("ix_items_first_seen", "items", ["first_seen"])
    op.create_index("ix_items_unmatched", "items", ["matched_version", "id"])
    op.create_table(
        "matches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("topic_id", sa.String(64), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("rules_version", sa.String(32), nullable=False),
        sa.Column("matched_at", TZ, nullable=False),
        sa.UniqueConstraint("item_id", "topic_id", name="uq_matches_item_topic"),
    )
    op.create_index("ix_matches_topic", "matches", ["topic_id"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subscriber", sa.String(128), nullable=False),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("delivered_at", TZ, nullable=False),
        sa.UniqueConstraint("subscriber", "item_id", name="uq_deliveries_subscriber_item"),
    )
    op.create_index("ix_deliveries_item", "deliveries", ["item_id"])
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subscriber", sa.String(128), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("items", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_digests_subscriber", "digests", ["subscriber", "created_at"])
    op.create_table(
        "crawl_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("http_status", sa.Integer),
        sa.Column("items_found", sa.Integer, nullable=False),
        sa.Column("items_new", sa.Integer, nullable=False),
        sa.Column("items_updated", sa.Integer, nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_crawl_runs_source", "crawl_runs", ["source_id", "finished_at"])
    op.create_table(
        "source_alerts",
        sa.Column("source_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("since", TZ, nullable=False),
        sa.Column("notified", sa.Boolean, nullable=False),
        sa.Column("recovered_at", TZ),
    )
    op.create_table(
        "http_cache",
        sa.Column("url", sa.String(1024), primary_key=True),
        sa.Column("etag", sa.String(512)),
        sa.Column("last_modified", sa.String(128)),
    )


def downgrade() -> None:
    for table in ("http_cache", "source_alerts", "crawl_runs", "digests", "deliveries", "matches", "items"):
        op.drop_table(table)
