"""The item store: items, their topic matches, deliveries and crawl history (SQLAlchemy 2).

SQLite by default (``storage.url``); any SQLAlchemy URL works. Identity of an item within
a source: feed GUID, else canonical URL (scheme and ``www.`` ignored), else content hash.
Seeing an item again never stores it twice; a changed title/date/text updates it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Iterator, Optional

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from spiders.items import NewsItem
from spiders.schema import (
    crawl_runs, deliveries, digests, http_cache, items, make_engine, matches, migrate, source_alerts,
)
from spiders.urls import identity_key


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(dt: Optional[datetime]) -> Optional[datetime]:
    """SQLite gives naive datetimes back; everything we store is UTC."""
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt


@dataclass
class CrawlRun:
    source_id: str
    started_at: datetime
    finished_at: datetime
    status: str
    http_status: Optional[int] = None
    items_found: int = 0
    items_new: int = 0
    items_updated: int = 0
    duration: float = 0.0
    error: Optional[str] = None


def _row_to_item(row) -> NewsItem:
    return NewsItem(
        id=row.id, source_id=row.source_id, url=row.url, guid=row.guid, title=row.title,
        summary=row.summary, body=row.body, language=row.language,
        published=_aware(row.published), published_guessed=row.published_guessed,
        first_seen=_aware(row.first_seen), updated_at=_aware(row.updated_at),
    )


class Store:
    """All database access of newswatch goes through here."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        migrate(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # ---- items -------------------------------------------------------------------------
    def _find(self, conn, item: NewsItem, key: str, chash: str):
        cols = select(items.c.id, items.c.title, items.c.summary, items.c.body,
                      items.c.published, items.c.content_hash, items.c.guid)
        if item.guid:
            row = conn.execute(cols.where(items.c.source_id == item.source_id,
                                          items.c.guid == item.guid)).first()
            if row:
                return row
        row = conn.execute(cols.where(items.c.source_id == item.source_id,
                                      items.c.url_key == key)).first()
        if row:
            return row
        if len(item.summary) + len(item.body) >= 80:  # a bare title is too weak to merge on
            return conn.execute(cols.where(items.c.source_id == item.source_id,
                                           items.c.content_hash == chash)).first()
        return None

    def upsert_item(self, item: NewsItem) -> tuple[str, int]:
        """Store an item; returns (``new`` | ``updated`` | ``same``, item id)."""
        return self.upsert_items([item])[0]

    def upsert_items(self, batch: list[NewsItem]) -> list[tuple[str, int]]:
        """Store a batch of items in one transaction; (state, id) for each, in order.

        Known items are found with one query per batch; new ones are inserted together.
        Anything unusual (an item seen twice in the batch, a concurrent writer) goes
        through the one-by-one path, which handles every case.
        """
        now = utcnow()
        keyed = [(item, identity_key(item.url)[:512], item.content_hash()) for item in batch]
        with self.engine.begin() as conn:
            known = self._prefetch(conn, keyed)
            out: list = [None] * len(keyed)
            fresh, later, seen, touched = [], [], set(), set()
            for i, (item, key, chash) in enumerate(keyed):
                ident = (item.source_id, item.guid or key)
                hit = known.get((item.source_id, "g", item.guid)) if item.guid else None
                hit = hit or known.get((item.source_id, "u", key))
                if hit is None and len(item.summary) + len(item.body) >= 80:
                    hit = known.get((item.source_id, "h", chash))
                if hit is not None and hit.id not in touched:
                    out[i] = self._apply(conn, item, hit, now)      # the prefetched row: no second lookup
                    touched.add(hit.id)
                elif hit is not None:
                    out[i] = self._upsert(conn, item, now)          # its row changed in this batch: re-read
                elif ident in seen or (item.source_id, "h", chash) in seen:
                    later.append(i)          # a second copy within the batch: after the first is in
                else:
                    seen.update({ident, (item.source_id, "h", chash)})
                    fresh.append((i, item, key, chash))
            if fresh:
                rows = [dict(source_id=item.source_id, url=item.url, url_key=key, guid=item.guid, title=item.title,
                             summary=item.summary, body=item.body, language=item.language,
                             published=item.published or item.first_seen or now,
                             published_guessed=item.published is None or item.published_guessed,
                             first_seen=item.first_seen or now, content_hash=chash)
                        for _, item, key, chash in fresh]
                try:
                    with conn.begin_nested():
                        ids = conn.execute(insert(items).returning(items.c.id, sort_by_parameter_order=True),
                                           rows).scalars().all()
                    for (i, *_), item_id in zip(fresh, ids):
                        out[i] = ("new", item_id)
                except IntegrityError:   # a concurrent writer: settle each item on its own
                    for i, item, _key, _chash in fresh:
                        out[i] = self._upsert(conn, item, now)
            for i in later:
                out[i] = self._upsert(conn, keyed[i][0], now)
            return out

    def _prefetch(self, conn, keyed: list) -> dict:
        """Existing rows matching the batch by GUID, URL key or content hash (one query per column)."""
        by_source: dict[str, tuple[set, set, set]] = {}
        for item, key, chash in keyed:
            g, u, h = by_source.setdefault(item.source_id, (set(), set(), set()))
            if item.guid:
                g.add(item.guid)
            u.add(key)
            h.add(chash)
        found: dict = {}
        cols = select(items.c.id, items.c.source_id, items.c.guid, items.c.url_key, items.c.content_hash,
                      items.c.title, items.c.summary, items.c.body, items.c.published)
        for source_id, (g, u, h) in by_source.items():
            # one query per identity column, each on its (source_id, column) index; an OR
            # of the three would make SQLite scan the whole source
            for column, values in ((items.c.guid, g), (items.c.url_key, u), (items.c.content_hash, h)):
                if not values:
                    continue
                for row in conn.execute(cols.where(items.c.source_id == source_id, column.in_(values))):
                    if row.guid:
                        found[(source_id, "g", row.guid)] = row
                    found[(source_id, "u", row.url_key)] = row
                    found[(source_id, "h", row.content_hash)] = row
        return found

    def _upsert(self, conn, item: NewsItem, now: datetime) -> tuple[str, int]:
        key = identity_key(item.url)[:512]
        chash = item.content_hash()
        row = self._find(conn, item, key, chash)
        if row is None:
            try:
                with conn.begin_nested():
                    res = conn.execute(insert(items).values(
                        source_id=item.source_id, url=item.url, url_key=key, guid=item.guid,
                        title=item.title, summary=item.summary, body=item.body,
                        language=item.language, published=item.published or item.first_seen or now,
                        published_guessed=item.published is None or item.published_guessed,
                        first_seen=item.first_seen or now, content_hash=chash,
                    ))
                return "new", res.inserted_primary_key[0]
            except IntegrityError:  # another writer stored it a moment ago
                row = self._find(conn, item, key, chash)
                if row is None:
                    raise
        return self._apply(conn, item, row, now)

    @staticmethod
    def _apply(conn, item: NewsItem, row, now: datetime) -> tuple[str, int]:
        """Compare a seen-again item with its stored row; update what changed."""
        changes = {}
        if item.title and item.title != row.title:
            changes["title"] = item.title
        if item.summary and item.summary != row.summary:
            changes["summary"] = item.summary
        if item.body and item.body != row.body:
            changes["body"] = item.body
        if item.published and _aware(row.published) != item.published:
            changes.update(published=item.published, published_guessed=False)
        if not changes:
            return "same", row.id
        merged = NewsItem(source_id=item.source_id, url=item.url,
                          title=changes.get("title", row.title),
                          summary=changes.get("summary", row.summary),
                          body=changes.get("body", row.body))
        changes.update(updated_at=now, content_hash=merged.content_hash(), matched_version=None)
        conn.execute(update(items).where(items.c.id == row.id).values(**changes))
        return "updated", row.id

    def get_item(self, item_id: int) -> Optional[NewsItem]:
        with self.engine.connect() as conn:
            row = conn.execute(select(items).where(items.c.id == item_id)).first()
        return _row_to_item(row) if row else None

    def iter_items(self, since: Optional[datetime] = None, unmatched: bool = False,
                   batch: int = 500) -> Iterator[NewsItem]:
        """Items first seen after ``since``; with ``unmatched``, only those never matched
        (new or changed since): an indexed lookup, however large the store."""
        last_id = 0
        while True:
            q = select(items).where(items.c.id > last_id).order_by(items.c.id).limit(batch)
            if since is not None:
                q = q.where(items.c.first_seen >= since)
            if unmatched:
                q = q.where(items.c.matched_version.is_(None))
            with self.engine.connect() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            for row in rows:
                yield _row_to_item(row)
            last_id = rows[-1].id

    def prune(self, before: datetime) -> int:
        """Delete items first seen before ``before``, with their matches and deliveries."""
        with self.engine.begin() as conn:
            old = select(items.c.id).where(items.c.first_seen < before)
            conn.execute(delete(matches).where(matches.c.item_id.in_(old)))
            conn.execute(delete(deliveries).where(deliveries.c.item_id.in_(old)))
            return conn.execute(delete(items).where(items.c.first_seen < before)).rowcount

    def count_matched_items(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count(func.distinct(matches.c.item_id)))).scalar_one()

    def count_items(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(items)).scalar_one()

    # ---- matches -----------------------------------------------------------------------
    def save_matches(self, item_id: int, found: Iterable[dict], rules_version: str) -> None:
        """Replace an item's matches with ``found`` (dicts with topic_id, score, evidence)."""
        self.save_matches_batch([(item_id, list(found))], rules_version)

    def save_matches_batch(self, batch: list[tuple[int, list[dict]]], rules_version: str) -> None:
        """Replace the matches of many items in one transaction; marks them matched."""
        if not batch:
            return
        now = utcnow()
        ids = [item_id for item_id, _ in batch]
        rows = [dict(item_id=item_id, topic_id=m["topic_id"], score=m.get("score", 1.0), evidence=m["evidence"],
                     rules_version=rules_version, matched_at=now) for item_id, found in batch for m in found]
        with self.engine.begin() as conn:
            conn.execute(delete(matches).where(matches.c.item_id.in_(ids)))
            if rows:
                conn.execute(insert(matches), rows)
            conn.execute(update(items).where(items.c.id.in_(ids)).values(matched_version=rules_version))

    def matches_for(self, topic_ids: Iterable[str], since: Optional[datetime] = None,
                    undelivered_to: Optional[str] = None) -> list[tuple[NewsItem, str, float, dict]]:
        """(item, topic, score, evidence) for items matching any of ``topic_ids``."""
        topic_ids = list(topic_ids)
        if not topic_ids:
            return []
        q = (select(items, matches.c.topic_id, matches.c.score, matches.c.evidence)
             .join(matches, matches.c.item_id == items.c.id)
             .where(matches.c.topic_id.in_(topic_ids))
             .order_by(items.c.published.desc(), items.c.id))
        q = self._match_filters(q, since, undelivered_to)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        out = []
        for row in rows:
            ev = row.evidence if isinstance(row.evidence, dict) else json.loads(row.evidence)
            out.append((_row_to_item(row), row.topic_id, row.score, ev))
        return out

    def match_keys_for(self, topic_ids: Iterable[str], since: Optional[datetime] = None,
                       undelivered_to: Optional[str] = None) -> list[tuple[int, str, float, str]]:
        """(item id, topic, score, language) only: the cheap first look of a digest."""
        topic_ids = list(topic_ids)
        if not topic_ids:
            return []
        q = (select(items.c.id, matches.c.topic_id, matches.c.score, items.c.language)
             .join(matches, matches.c.item_id == items.c.id)
             .where(matches.c.topic_id.in_(topic_ids)).order_by(items.c.id, matches.c.topic_id))
        q = self._match_filters(q, since, undelivered_to)
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(q).all()]

    @staticmethod
    def _match_filters(q, since, undelivered_to):
        if since is not None:
            q = q.where(items.c.first_seen >= since)
        if undelivered_to is not None:
            done = select(deliveries.c.item_id).where(deliveries.c.subscriber == undelivered_to)
            q = q.where(items.c.id.not_in(done))
        return q

    # ---- deliveries --------------------------------------------------------------------
    def record_delivery(self, subscriber: str, item_ids: Iterable[int], message_id: str,
                        at: Optional[datetime] = None) -> int:
        """Record that ``subscriber`` got these items; already-recorded pairs are skipped."""
        now = at or utcnow()
        ids = sorted(set(item_ids))
        with self.engine.begin() as conn:
            done = set()
            for chunk in range(0, len(ids), 500):
                part = ids[chunk:chunk + 500]
                done |= {r.item_id for r in conn.execute(select(deliveries.c.item_id).where(
                    deliveries.c.subscriber == subscriber, deliveries.c.item_id.in_(part)))}
            rows = [dict(subscriber=subscriber, item_id=i, message_id=message_id, delivered_at=now)
                    for i in ids if i not in done]
            if rows:
                conn.execute(insert(deliveries), rows)
            conn.execute(insert(digests).values(subscriber=subscriber, message_id=message_id,
                                                status="sent", items=len(rows), created_at=now))
        return len(rows)

    def record_failed_digest(self, subscriber: str, message_id: str, count: int, error: str,
                             at: Optional[datetime] = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(digests).values(subscriber=subscriber, message_id=message_id, status="failed",
                                                items=count, error=error[:2000], created_at=at or utcnow()))

    def delivered_item_ids(self, subscriber: str) -> set[int]:
        with self.engine.connect() as conn:
            return {r.item_id for r in conn.execute(
                select(deliveries.c.item_id).where(deliveries.c.subscriber == subscriber))}

    def last_digest(self, subscriber: str, status: str = "sent") -> Optional[datetime]:
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(digests.c.created_at)).where(
                digests.c.subscriber == subscriber, digests.c.status == status)).scalar()
        return _aware(value)

    def failures_since_success(self, subscriber: str) -> int:
        last_ok = self.last_digest(subscriber, "sent")
        q = select(func.count()).select_from(digests).where(digests.c.subscriber == subscriber,
                                                            digests.c.status == "failed")
        if last_ok is not None:
            q = q.where(digests.c.created_at > last_ok)
        with self.engine.connect() as conn:
            return conn.execute(q).scalar_one()

    # ---- crawl history -----------------------------------------------------------------
    def record_crawl(self, run: CrawlRun) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(crawl_runs).values(**run.__dict__))

    def crawl_history(self, source_id: str, limit: int = 50) -> list[CrawlRun]:
        q = (select(crawl_runs).where(crawl_runs.c.source_id == source_id)
             .order_by(crawl_runs.c.finished_at.desc(), crawl_runs.c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [CrawlRun(source_id=r.source_id, started_at=_aware(r.started_at),
                         finished_at=_aware(r.finished_at), status=r.status, http_status=r.http_status,
                         items_found=r.items_found, items_new=r.items_new, items_updated=r.items_updated,
                         duration=r.duration, error=r.error) for r in rows]

    def last_item_seen(self, source_id: str) -> Optional[datetime]:
        with self.engine.connect() as conn:
            return _aware(conn.execute(select(func.max(items.c.first_seen)).where(items.c.source_id == source_id)).scalar())

    # ---- operator alerts ---------------------------------------------------------------
    def get_source_alert(self, source_id: str) -> Optional[dict]:
        with self.engine.connect() as conn:
            row = conn.execute(select(source_alerts).where(source_alerts.c.source_id == source_id)).first()
        if row is None:
            return None
        return {"kind": row.kind, "detail": row.detail, "since": _aware(row.since), "notified": row.notified,
                "recovered_at": _aware(row.recovered_at)}

    def open_source_alert(self, source_id: str, kind: str, detail: str, since: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(source_alerts).values(source_id=source_id, kind=kind, detail=detail[:2000],
                                                      since=since, notified=False))

    def mark_source_alert(self, source_id: str, notified: Optional[bool] = None,
                          recovered: Optional[datetime] = None) -> None:
        values = {}
        if notified is not None:
            values["notified"] = notified
        if recovered is not None:
            values["recovered_at"] = recovered
        with self.engine.begin() as conn:
            conn.execute(update(source_alerts).where(source_alerts.c.source_id == source_id).values(**values))

    def close_source_alert(self, source_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(source_alerts).where(source_alerts.c.source_id == source_id))

    def item_count_by_source(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return dict(conn.execute(select(items.c.source_id, func.count()).group_by(items.c.source_id)).all())

    # ---- conditional requests ----------------------------------------------------------
    def get_validators(self, url: str) -> tuple[Optional[str], Optional[str]]:
        with self.engine.connect() as conn:
            row = conn.execute(select(http_cache).where(http_cache.c.url == url[:1024])).first()
        return (row.etag, row.last_modified) if row else (None, None)

    def set_validators(self, url: str, etag: Optional[str], last_modified: Optional[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(http_cache).where(http_cache.c.url == url[:1024]))
            if etag or last_modified:
                conn.execute(insert(http_cache).values(url=url[:1024], etag=etag, last_modified=last_modified))
