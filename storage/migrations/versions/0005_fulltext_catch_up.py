"""SQLite: the full-text index is brought up to date in one statement per cycle, not by a
trigger per inserted item.

A trigger made FTS5 index every new item in its own statement, about 150 µs an item; one
``INSERT … SELECT`` over the items stored since the last catch-up does the same work in
about 60 µs an item (storage/fulltext.py). ``fts_progress.last_id`` is the newest item the
index holds: items above it are indexed by the next catch-up (the cycle runs one after
each crawl, and a search runs one first). The delete and update triggers stay, but only
for items the index already holds: an item changed or pruned before its catch-up is read
as it then is.

PostgreSQL keeps its GIN index (revision 0003), which the database maintains itself.

Both databases: ``housekeeping``, when each periodic chore last ran (pruning old crawl runs
once a day; a gate on the oldest run did not hold, since runs that are always kept — a
removed source's last — stay old).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_INDEXED = "old.id <= (SELECT last_id FROM fts_progress WHERE id = 1)"

SQLITE_UP = [
    "CREATE TABLE fts_progress (id INTEGER PRIMARY KEY CHECK (id = 1), last_id INTEGER NOT NULL)",
    # revision 0003's triggers indexed every item stored so far
    "INSERT INTO fts_progress (id, last_id) SELECT 1, coalesce(max(id), 0) FROM items",
    "DROP TRIGGER IF EXISTS items_fts_ai",
    "DROP TRIGGER IF EXISTS items_fts_ad",
    "DROP TRIGGER IF EXISTS items_fts_au",
    f"""CREATE TRIGGER items_fts_ad AFTER DELETE ON items WHEN {_INDEXED} BEGIN
        INSERT INTO items_fts(items_fts, rowid, title, summary, body)
        VALUES ('delete', old.id, old.title, old.summary, old.body);
    END""",
    f"""CREATE TRIGGER items_fts_au AFTER UPDATE OF title, summary, body ON items WHEN {_INDEXED} BEGIN
        INSERT INTO items_fts(items_fts, rowid, title, summary, body)
        VALUES ('delete', old.id, old.title, old.summary, old.body);
        INSERT INTO items_fts(rowid, title, summary, body) VALUES (new.id, new.title, new.summary, new.body);
    END""",
]

# back to revision 0003: a trigger per insert, unconditional delete and update triggers, and
# the index rebuilt from the table (it may lack the items stored since the last catch-up)
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS items_fts_ad",
    "DROP TRIGGER IF EXISTS items_fts_au",
    "DROP TABLE IF EXISTS fts_progress",
    """CREATE TRIGGER items_fts_ai AFTER INSERT ON items BEGIN
        INSERT INTO items_fts(rowid, title, summary, body) VALUES (new.id, new.title, new.summary, new.body);
    END""",
    """CREATE TRIGGER items_fts_ad AFTER DELETE ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, title, summary, body)
        VALUES ('delete', old.id, old.title, old.summary, old.body);
    END""",
    """CREATE TRIGGER items_fts_au AFTER UPDATE OF title, summary, body ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, title, summary, body)
        VALUES ('delete', old.id, old.title, old.summary, old.body);
        INSERT INTO items_fts(rowid, title, summary, body) VALUES (new.id, new.title, new.summary, new.body);
    END""",
    "INSERT INTO items_fts(items_fts) VALUES ('rebuild')",
]


def upgrade() -> None:
    op.create_table("housekeeping",
                    sa.Column("task", sa.String(32), primary_key=True),
                    sa.Column("done_at", sa.DateTime(timezone=True), nullable=False))
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
    op.drop_table("housekeeping")
