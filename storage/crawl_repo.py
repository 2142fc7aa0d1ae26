"""The crawl side of the store: items, crawl runs, HTTP validators and the tombstones that
retention leaves behind.

Identity of an item within a source: its feed GUID, else its URL key (canonical URL without
scheme and ``www.``), else — for items with some text — its content hash. Seeing an item
again never stores it twice; a changed title, date or text updates it. A GUID that a feed
reuses for different articles (different URL *and* title) is not taken as an identity, so
no entry is lost. An item that retention pruned is recognised by its tombstone and not
stored (or sent) again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from newswatch.storage.engine import Database
from newswatch.storage.rows import (
    CrawlRun,
    ItemRecord,
    SourceStats,
    UpsertOutcome,
    UpsertState,
    aware,
    content_hash,
    utcnow,
)
from newswatch.storage.schema import (
    crawl_runs,
    deliveries,
    feedback,
    housekeeping,
    http_cache,
    items,
    matches,
    tombstones,
)
from newswatch.storage.sql import insert_ignore

MIN_TEXT_FOR_HASH = 80        # a bare title is too weak to call two items one
_CHUNK = 500                  # values per IN (...) list


def tombstone_key(kind: str, value: str) -> str:
    return hashlib.sha1(f"{kind}:{value}".encode()).hexdigest()


def _keys_of(rec: ItemRecord, chash: str) -> list[str]:
    """The tombstone keys of a record whose content hash is ``chash`` (computed once per
    record by the caller: hashing the text is a fifth of storing it)."""
    keys = [tombstone_key("u", rec.url_key)]
    if len(rec.summary) + len(rec.body) >= MIN_TEXT_FOR_HASH:
        keys.append(tombstone_key("h", chash))
    return keys


_ID_COLS = (items.c.id, items.c.source_id, items.c.guid, items.c.url_key, items.c.content_hash,
            items.c.title, items.c.summary, items.c.body, items.c.published)

# The lookups of a batch, built once with an expanding IN list: built per call with the
# values inline, SQLAlchemy checked every value (a fifth of storing a new item)
_BY_COLUMN = {col.name: select(*_ID_COLS).where(items.c.source_id == bindparam("sid"),
                                                col.in_(bindparam("values", expanding=True)))
              for col in (items.c.guid, items.c.url_key, items.c.content_hash)}
_IDS = select(items.c.id, items.c.url_key).where(items.c.source_id == bindparam("sid"),
                                                 items.c.url_key.in_(bindparam("values", expanding=True)))
_TOMBSTONES = select(tombstones.c.key).where(tombstones.c.source_id == bindparam("sid"),
                                             tombstones.c.key.in_(bindparam("values", expanding=True)))


class CrawlRepository:
    def __init__(self, db: Database):
        self.db = db

    # ---- items ---------------------------------------------------------------------------
    def upsert_items(self, records: Sequence[ItemRecord]) -> list[UpsertOutcome]:
        """Store a batch in one transaction; an outcome per record, in order.

        Known items are found with one query per identity column; new ones are inserted
        together. Anything unusual (two copies in one batch, a concurrent writer) goes
        through the one-by-one path, which handles every case.
        """
        if not records:
            return []
        records = [r.storable() for r in records]
        now = utcnow()
        hashes = [r.content_hash for r in records]
        with self.db.engine.begin() as conn:
            known = self._prefetch(conn, records, hashes)
            dead = self._tombstoned(conn, records, hashes)
            out: list[Optional[UpsertOutcome]] = [None] * len(records)
            fresh: list[int] = []
            later: list[int] = []
            seen: set[tuple] = set()
            touched: set[int] = set()
            for i, rec in enumerate(records):
                hit = self._lookup(known, rec, hashes[i])
                if hit is not None:
                    if hit.id in touched:                    # changed earlier in this batch: re-read
                        out[i] = self._upsert_one(conn, rec, now)
                    else:
                        out[i] = self._apply(conn, rec, hit, now)
                        touched.add(hit.id)
                    continue
                if any((rec.source_id, k) in dead for k in _keys_of(rec, hashes[i])):
                    out[i] = UpsertOutcome(UpsertState.PRUNED, None)
                    continue
                idents = {(rec.source_id, "u", rec.url_key), (rec.source_id, "h", hashes[i])}
                if idents & seen:
                    later.append(i)                          # a second copy: after the first is in
                    continue
                seen |= idents
                fresh.append(i)
            if fresh:
                rows = [self._new_row(records[i], hashes[i], now) for i in fresh]
                try:
                    with conn.begin_nested():
                        # one executemany, then the new ids by their unique key: RETURNING
                        # in parameter order makes SQLite insert the rows one statement each
                        conn.execute(insert(items), rows)
                        ids = self._ids_of(conn, [(r["source_id"], r["url_key"]) for r in rows])
                    for i, row in zip(fresh, rows):
                        out[i] = UpsertOutcome(UpsertState.NEW, ids[(row["source_id"], row["url_key"])])
                except IntegrityError:                       # a concurrent writer: settle each alone
                    for i in fresh:
                        out[i] = self._upsert_one(conn, records[i], now)
            for i in later:
                out[i] = self._upsert_one(conn, records[i], now)
        missing = [i for i, o in enumerate(out) if o is None]
        if missing:                                          # a bug, loudly: never lose an item quietly
            raise AssertionError(f"items {missing} of the batch got no outcome")
        return out  # type: ignore[return-value]

    @staticmethod
    def _ids_of(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """The ids of items by (source, URL key), their unique key."""
        out: dict[tuple[str, str], int] = {}
        by_source: dict[str, list[str]] = {}
        for sid, key in keys:
            by_source.setdefault(sid, []).append(key)
        for sid, url_keys in by_source.items():
            for start in range(0, len(url_keys), _CHUNK):
                rows = conn.execute(_IDS, {"sid": sid, "values": url_keys[start:start + _CHUNK]})
                out.update(((sid, k), i) for i, k in rows)
        return out

    @staticmethod
    def _new_row(rec: ItemRecord, chash: str, now: datetime) -> dict[str, Any]:
        seen = rec.first_seen or now
        return dict(source_id=rec.source_id, url=rec.url, url_key=rec.url_key, guid=rec.guid,
                    title=rec.title, summary=rec.summary, body=rec.body, language=rec.language,
                    published=rec.published or seen, published_guessed=rec.published is None,
                    first_seen=seen, content_hash=chash)

    @staticmethod
    def _lookup(known: dict, rec: ItemRecord, chash: str) -> Any:
        sid = rec.source_id
        if rec.guid:
            row = known.get((sid, "g", rec.guid))
            # a GUID names this article only if the URL, title or text agree: some feeds
            # give every entry the same GUID, and trusting it would merge them into one
            if row is not None and (row.url_key == rec.url_key or row.title == rec.title
                                    or row.content_hash == chash):
                return row
        row = known.get((sid, "u", rec.url_key))
        if row is None and len(rec.summary) + len(rec.body) >= MIN_TEXT_FOR_HASH:
            row = known.get((sid, "h", chash))
        return row

    def _prefetch(self, conn: Connection, records: Sequence[ItemRecord], hashes: list[str]) -> dict:
        by_source: dict[str, tuple[set, set, set]] = {}
        for rec, chash in zip(records, hashes):
            g, u, h = by_source.setdefault(rec.source_id, (set(), set(), set()))
            if rec.guid:
                g.add(rec.guid)
            u.add(rec.url_key)
            h.add(chash)
        found: dict = {}
        for source_id, (g, u, h) in by_source.items():
            # one query per identity column, each on its (source_id, column) index: an OR of
            # the three would make SQLite scan the whole source
            for column, values in (("guid", g), ("url_key", u), ("content_hash", h)):
                values_l = list(values)
                for start in range(0, len(values_l), _CHUNK):
                    part = values_l[start:start + _CHUNK]
                    for row in conn.execute(_BY_COLUMN[column], {"sid": source_id, "values": part}):
                        if row.guid:
                            found.setdefault((source_id, "g", row.guid), row)
                        found.setdefault((source_id, "u", row.url_key), row)
                        found.setdefault((source_id, "h", row.content_hash), row)
        return found

    def _tombstoned(self, conn: Connection, records: Sequence[ItemRecord],
                    hashes: Sequence[str]) -> set[tuple[str, str]]:
        by_source: dict[str, set[str]] = {}
        for rec, chash in zip(records, hashes):
            by_source.setdefault(rec.source_id, set()).update(_keys_of(rec, chash))
        dead: set[tuple[str, str]] = set()
        for source_id, keys in by_source.items():
            keys_l = list(keys)
            for start in range(0, len(keys_l), _CHUNK):
                found = conn.execute(_TOMBSTONES, {"sid": source_id, "values": keys_l[start:start + _CHUNK]})
                dead.update((source_id, k) for k in found.scalars())
        return dead

    def _upsert_one(self, conn: Connection, rec: ItemRecord, now: datetime) -> UpsertOutcome:
        chash = rec.content_hash
        known = self._prefetch(conn, [rec], [chash])
        row = self._lookup(known, rec, chash)
        if row is None:
            if self._tombstoned(conn, [rec], [chash]):
                return UpsertOutcome(UpsertState.PRUNED, None)
            try:
                with conn.begin_nested():
                    new_id = conn.execute(insert(items).values(**self._new_row(rec, chash, now))
                                          .returning(items.c.id)).scalar_one()
                return UpsertOutcome(UpsertState.NEW, new_id)
            except IntegrityError:                           # another writer stored it a moment ago
                row = self._lookup(self._prefetch(conn, [rec], [chash]), rec, chash)
                if row is None:
                    raise
        return self._apply(conn, rec, row, now)

    @staticmethod
    def _apply(conn: Connection, rec: ItemRecord, row: Any, now: datetime) -> UpsertOutcome:
        """Compare a seen-again item with its stored row; update what changed."""
        changes: dict[str, Any] = {}
        if rec.title and rec.title != row.title:
            changes["title"] = rec.title
        if rec.summary and rec.summary != row.summary:
            changes["summary"] = rec.summary
        if rec.body and rec.body != row.body:
            changes["body"] = rec.body
        if rec.published and aware(row.published) != rec.published:
            changes.update(published=rec.published, published_guessed=False)
        if not changes:
            return UpsertOutcome(UpsertState.SAME, row.id)
        merged = content_hash(changes.get("title", row.title), changes.get("summary", row.summary),
                              changes.get("body", row.body))
        changes.update(updated_at=now, content_hash=merged, matched_version=None)
        conn.execute(update(items).where(items.c.id == row.id).values(**changes))
        return UpsertOutcome(UpsertState.UPDATED, row.id)

    def prune(self, before: datetime) -> int:
        """Delete items first seen before ``before`` (with their matches and deliveries),
        leaving a tombstone of each, so a feed that still carries one does not bring it back."""
        removed = 0
        now = utcnow()
        while True:
            with self.db.engine.begin() as conn:
                old = conn.execute(select(items.c.id, items.c.source_id, items.c.url_key, items.c.content_hash,
                                          items.c.summary, items.c.body)
                                   .where(items.c.first_seen < before).order_by(items.c.id).limit(_CHUNK)).all()
                if not old:
                    return removed
                stones = []
                for r in old:
                    stones.append({"source_id": r.source_id, "key": tombstone_key("u", r.url_key), "pruned_at": now})
                    if len(r.summary) + len(r.body) >= MIN_TEXT_FOR_HASH:
                        stones.append({"source_id": r.source_id, "key": tombstone_key("h", r.content_hash),
                                       "pruned_at": now})
                conn.execute(insert_ignore(conn, tombstones, ["source_id", "key"]), stones)
                ids = [r.id for r in old]
                conn.execute(delete(matches).where(matches.c.item_id.in_(ids)))
                conn.execute(delete(deliveries).where(deliveries.c.item_id.in_(ids)))
                conn.execute(update(feedback).where(feedback.c.item_id.in_(ids)).values(item_id=None))
                removed += conn.execute(delete(items).where(items.c.id.in_(ids))).rowcount

    def prune_runs(self, before: datetime, now: Optional[datetime] = None) -> int:
        """Delete crawl runs finished before ``before``, except each source's latest run and
        latest successful run (its health needs them, however old).

        At most once a day (``housekeeping``): finding the runs to keep reads every run, so
        doing it on every cycle would cost more than the old runs do."""
        now = now or utcnow()
        with self.db.engine.begin() as conn:
            last = conn.execute(select(housekeeping.c.done_at).where(housekeeping.c.task == "prune_runs")).scalar()
            if last is not None and now - aware(last) < timedelta(days=1):
                return 0
            latest = select(func.max(crawl_runs.c.id)).group_by(crawl_runs.c.source_id)
            latest_ok = (select(func.max(crawl_runs.c.id)).where(crawl_runs.c.status.in_(("ok", "not_modified")))
                         .group_by(crawl_runs.c.source_id))
            removed = conn.execute(delete(crawl_runs).where(crawl_runs.c.finished_at < before,
                                                            crawl_runs.c.id.not_in(latest),
                                                            crawl_runs.c.id.not_in(latest_ok))).rowcount
            # two processes pruning at once both record it (the second's insert does nothing)
            conn.execute(insert_ignore(conn, housekeeping, ["task"]), [{"task": "prune_runs", "done_at": now}])
            conn.execute(update(housekeeping).where(housekeeping.c.task == "prune_runs").values(done_at=now))
            return removed

    def prune_tombstones(self, before: datetime) -> int:
        with self.db.engine.begin() as conn:
            return conn.execute(delete(tombstones).where(tombstones.c.pruned_at < before)).rowcount

    def count_items(self) -> int:
        with self.db.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(items)).scalar_one()

    # ---- crawl runs ------------------------------------------------------------------------
    def record_run(self, run: CrawlRun) -> None:
        self.record_runs([run])

    def record_runs(self, runs: Sequence[CrawlRun]) -> None:
        """Record crawl runs, all in one transaction (an idle cycle's 304s: one commit, not
        one per source)."""
        if not runs:
            return
        # values as parameters, not in the statement: the statement's compiled form is then
        # reused, instead of a cache key computed over every value of the report
        rows = [dict(source_id=run.source_id, started_at=run.started_at, finished_at=run.finished_at,
                     status=run.status, http_status=run.http_status, items_found=run.items_found,
                     items_new=run.items_new, items_updated=run.items_updated, duration=run.duration,
                     error=(run.error or None) and run.error[:4000], warnings=list(run.warnings)[:50],
                     report=list(run.report)[:200], used_fallback=run.used_fallback) for run in runs]
        with self.db.engine.begin() as conn:
            conn.execute(insert(crawl_runs), rows)

    def recent_runs(self, source_ids: Iterable[str], limit: int = 100) -> dict[str, list[CrawlRun]]:
        """The last ``limit`` runs of each source, newest first.

        One indexed query per source (``ix_crawl_runs_source``): each reads only its
        ``limit`` rows, however long the history, where one windowed query over every run of
        every source would read them all."""
        ids = list(dict.fromkeys(source_ids))
        out: dict[str, list[CrawlRun]] = {sid: [] for sid in ids}
        q = (select(crawl_runs).where(crawl_runs.c.source_id == bindparam("sid"))
             .order_by(crawl_runs.c.finished_at.desc(), crawl_runs.c.id.desc()).limit(limit))
        with self.db.engine.connect() as conn:
            for sid in ids:
                out[sid] = [_run(r) for r in conn.execute(q, {"sid": sid})]
        return out

    def history(self, source_id: str, limit: int = 50) -> list[CrawlRun]:
        return self.recent_runs([source_id], limit)[source_id]

    def source_stats(self, source_ids: Iterable[str], since: Optional[datetime] = None,
                     counts: bool = True) -> dict[str, SourceStats]:
        """The last time each source brought a new item; with ``counts``, its items; with
        ``since``, its new items per day (for the health chart).

        Without counts it is one indexed lookup per source (``ix_items_source_first_seen``),
        whatever the size of the store: the cycle's health check asks for no more."""
        ids = list(dict.fromkeys(source_ids))
        wanted = set(ids)
        out: dict[str, SourceStats] = {}
        with self.db.engine.connect() as conn:
            if counts:
                for sid, count, last in conn.execute(
                        select(items.c.source_id, func.count(), func.max(items.c.first_seen))
                        .group_by(items.c.source_id)):
                    if sid in wanted:
                        out[sid] = SourceStats(sid, count, aware(last))
            else:
                last_seen = select(func.max(items.c.first_seen)).where(items.c.source_id == bindparam("sid"))
                for sid in ids:
                    last = conn.execute(last_seen, {"sid": sid}).scalar()
                    if last is not None:
                        out[sid] = SourceStats(sid, 0, aware(last))
            if since is not None:
                for sid, first_seen in conn.execute(select(items.c.source_id, items.c.first_seen)
                                                    .where(items.c.first_seen >= since)):
                    if sid not in wanted:
                        continue
                    day = first_seen.strftime("%Y-%m-%d")
                    stats = out.setdefault(sid, SourceStats(sid))
                    stats.per_day[day] = stats.per_day.get(day, 0) + 1
        return out

    # ---- conditional requests ------------------------------------------------------------
    def validators(self, urls: Iterable[str]) -> dict[str, tuple[Optional[str], Optional[str]]]:
        """(ETag, Last-Modified) per URL that has them."""
        wanted = [u[:1024] for u in urls]
        out: dict[str, tuple[Optional[str], Optional[str]]] = {}
        with self.db.engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                for r in conn.execute(select(http_cache).where(http_cache.c.url.in_(wanted[start:start + _CHUNK]))):
                    out[r.url] = (r.etag, r.last_modified)
        return out

    def save_validators(self, found: dict[str, tuple[Optional[str], Optional[str]]]) -> None:
        if not found:
            return
        with self.db.engine.begin() as conn:
            urls = [u[:1024] for u in found]
            for start in range(0, len(urls), _CHUNK):
                conn.execute(delete(http_cache).where(http_cache.c.url.in_(urls[start:start + _CHUNK])))
            rows = [{"url": u[:1024], "etag": e, "last_modified": m} for u, (e, m) in found.items() if e or m]
            if rows:
                conn.execute(insert(http_cache), rows)


def _run(r: Any) -> CrawlRun:
    return CrawlRun(source_id=r.source_id, started_at=aware(r.started_at), finished_at=aware(r.finished_at),
                    status=r.status, http_status=r.http_status, items_found=r.items_found, items_new=r.items_new,
                    items_updated=r.items_updated, duration=r.duration, error=r.error,
                    warnings=tuple(r.warnings or ()), report=tuple(r.report or ()), used_fallback=bool(r.used_fallback))
