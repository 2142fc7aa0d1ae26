"""Full-text search over items' title, summary and body (the web archive).

SQLite: an FTS5 external-content table ``items_fts`` (the text stays in ``items`` only),
kept in step by triggers, and rebuilt once so the items already stored are indexed. The
``unicode61`` tokenizer folds case for Cyrillic as for Latin; ``remove_diacritics 2`` folds
Latin accents (café = cafe) and leaves Cyrillic letters (й, ё, ў, і) as they are.

PostgreSQL: a GIN index on the ``simple`` text-search configuration (lower-cased words, no
stemming, no stop words: the texts mix English, Russian and Belarusian). The expression is
repeated verbatim in ``storage/archive_repo.py``; the planner uses the index only for that
exact expression.

Later revisions: on SQLite, a ``batch_alter_table("items")`` that recreates the table drops
these triggers with it; such a revision must create them again and rebuild ``items_fts``.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PG_DOCUMENT = ("to_tsvector('simple'::regconfig, coalesce(title, '') || ' ' || coalesce(summary, '') "
               "|| ' ' || coalesce(body, ''))")

SQLITE_UP = [
    "CREATE VIRTUAL TABLE items_fts USING fts5(title, summary, body, content='items', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    """CREATE TRIGGER items_fts_ai AFTER INSERT ON items BEGIN
        INSERT INTO items_fts(rowid, title, summary, body) VALUES (new.id, new.title, new.summary, new.body);
    END""",
    """CREATE TRIGGER items_fts_ad AFTER DELETE ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, title, summary, body)
        VALUES ('delete', old.id, old.title, old.summary, old.body);
    END""",
    # only a change of the text re-indexes an item (marking it matched does not)
    """CREATE TRIGGER items_fts_au AFTER UPDATE OF title, summary, body ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, title, summary, body)
        VALUES ('delete', old.id, old.title, old.summary, old.body);
        INSERT INTO items_fts(rowid, title, summary, body) VALUES (new.id, new.title, new.summary, new.body);
    END""",
    "INSERT INTO items_fts(items_fts) VALUES ('rebuild')",
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS items_fts_au",
    "DROP TRIGGER IF EXISTS items_fts_ad",
    "DROP TRIGGER IF EXISTS items_fts_ai",
    "DROP TABLE IF EXISTS items_fts",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(f"CREATE INDEX ix_items_fulltext ON items USING gin ({PG_DOCUMENT})")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_items_fulltext")
