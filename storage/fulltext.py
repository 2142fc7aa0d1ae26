"""Keeping SQLite's full-text index (revisions 0003 and 0005) up to date.

New items are indexed by ``INSERT … SELECT`` over what was stored since the last catch-up,
not by a trigger per item: FTS5 does the same work in well under half the time when it
gets the rows together (about 60 against 150 µs an item). The cycle catches up after each
crawl; a word search catches up first, waiting only briefly for another writer, so it
misses at most what was stored in the last moments. PostgreSQL's GIN index needs none of
this.

Each round indexes at most ``CHUNK`` items in its own transaction, so no catch-up holds the
database for long (a store of 40,000 waiting items is several rounds, not one 8-second
lock). A round first takes the write lock and only then reads where the index stands:
two processes catching up at once take turns, and the second finds nothing left rather
than indexing the same items twice. Ids only grow (AUTOINCREMENT), so an item above
``last_id`` is one the index does not hold, and none below it can appear later.
"""

from __future__ import annotations

import logging
from typing import Optional

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from newswatch.storage.engine import Database
from newswatch.storage.errors import StorageError

log = logging.getLogger("newswatch.storage")
CHUNK = 2000          # items per round: about 0.1 s of indexing while holding the write lock


def catch_up(db: Database, wait: Optional[float] = None) -> int:
    """Index the items stored since the last catch-up; how many were indexed.

    ``wait``: seconds to wait for another writer (default: the database's busy timeout).
    Whatever cannot be done now (another writer holds the database, the disk is full, the
    file is read-only) is logged and left for the next catch-up; it never raises."""
    if db.dialect != "sqlite" or db.read_only:
        return 0
    done = 0
    try:
        with db.engine.connect() as conn:
            if not _waiting(conn):
                return 0                     # nothing to do: no write lock taken
            if wait is not None:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={max(0, int(wait * 1000))}")
                conn.commit()
            try:
                while True:
                    with conn.begin():
                        indexed = _round(conn)
                    done += indexed
                    if indexed < CHUNK:
                        return done
            finally:
                if wait is not None:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={db.busy_ms}")
                    conn.commit()
    except (StorageError, OperationalError) as exc:
        log.warning("full-text index: %d item(s) indexed, the rest left for the next catch-up (%s)", done, exc)
        return done


def _waiting(conn: Connection) -> bool:
    last = conn.execute(text("SELECT last_id FROM fts_progress WHERE id = 1")).scalar()
    newest = conn.execute(text("SELECT max(id) FROM items")).scalar()
    conn.commit()
    return last is not None and newest is not None and newest > last


def _round(conn: Connection) -> int:
    # the write lock first (an UPDATE), then where the index stands
    conn.execute(text("UPDATE fts_progress SET last_id = last_id WHERE id = 1"))
    last = conn.execute(text("SELECT last_id FROM fts_progress WHERE id = 1")).scalar() or 0
    upto = conn.execute(text("SELECT max(id) FROM (SELECT id FROM items WHERE id > :last ORDER BY id LIMIT :n)"),
                        {"last": last, "n": CHUNK}).scalar()
    if upto is None:
        return 0
    indexed = conn.execute(text("INSERT INTO items_fts(rowid, title, summary, body) "
                                "SELECT id, title, summary, body FROM items WHERE id > :last AND id <= :upto "
                                "ORDER BY id"), {"last": last, "upto": upto}).rowcount
    conn.execute(text("UPDATE fts_progress SET last_id = :upto WHERE id = 1"), {"upto": upto})
    return int(indexed or 0)
