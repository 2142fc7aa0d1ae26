"""Delivery claims (state, owner, lease), digest slots, crawl-run reports, tombstones of
pruned items, analyst feedback, saved settings versions.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # AUTOINCREMENT: SQLite would reuse the id of a pruned item, and journals and
        # feedback links name items by id
        with op.batch_alter_table("items", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass
    with op.batch_alter_table("deliveries") as b:
        b.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="sent"))
        b.add_column(sa.Column("owner", sa.String(128)))
        b.add_column(sa.Column("lease_until", TZ))
        b.add_column(sa.Column("shown", sa.Boolean, nullable=False, server_default=sa.true()))
        b.alter_column("message_id", existing_type=sa.String(255), nullable=True)
        b.alter_column("delivered_at", existing_type=TZ, nullable=True)
    with op.batch_alter_table("digests") as b:
        b.add_column(sa.Column("slot", TZ))
    with op.batch_alter_table("crawl_runs") as b:
        b.add_column(sa.Column("warnings", sa.JSON))
        b.add_column(sa.Column("report", sa.JSON))
        b.add_column(sa.Column("used_fallback", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "tombstones",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("pruned_at", TZ, nullable=False),
        sa.UniqueConstraint("source_id", "key", name="uq_tombstones_source_key"),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("link_id", sa.String(64), nullable=False),
        sa.Column("subscriber", sa.String(128), nullable=False),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="SET NULL")),
        sa.Column("topic_id", sa.String(64)),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("title", sa.Text),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("link_id", name="uq_feedback_link"),
    )
    op.create_index("ix_feedback_item", "feedback", ["item_id"])
    op.create_table(
        "settings_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("rules_version", sa.String(32), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("saved_at", TZ, nullable=False),
        sa.Column("saved_by", sa.String(128)),
    )


def downgrade() -> None:
    op.drop_table("settings_versions")
    op.drop_index("ix_feedback_item", "feedback")
    op.drop_table("feedback")
    op.drop_table("tombstones")
    with op.batch_alter_table("crawl_runs") as b:
        b.drop_column("used_fallback")
        b.drop_column("report")
        b.drop_column("warnings")
    with op.batch_alter_table("digests") as b:
        b.drop_column("slot")
    with op.batch_alter_table("deliveries") as b:
        b.drop_column("shown")
        b.drop_column("lease_until")
        b.drop_column("owner")
        b.drop_column("state")
