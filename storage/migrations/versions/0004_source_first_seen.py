"""An index on items (source_id, first_seen): each cycle's health check asks when each source
last brought a new item, and without it that question reads every stored item (a full scan
of the largest table, twice per cycle, growing with the store). And one on crawl runs'
finished_at: pruning old runs first asks for the oldest one.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_items_source_first_seen", "items", ["source_id", "first_seen"])
    op.create_index("ix_crawl_runs_finished", "crawl_runs", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_crawl_runs_finished", table_name="crawl_runs")
    op.drop_index("ix_items_source_first_seen", table_name="items")
