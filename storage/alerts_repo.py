"""The alerts side of the store: matches, delivery claims, the digest log, source alerts and
analyst feedback. It reads items (written by the crawl side) but never writes them.

Delivery is exactly-once by construction. Before a digest is sent, its (subscriber, item)
rows are *claimed*: inserted in state ``sending`` under the unique key, with this process as
owner and a lease. A second process cannot claim a row that exists, so it cannot send the
item too. After the mail server accepts the digest the rows are marked ``sent``; if the send
fails they are released. The rows of a process that died mid-send keep their lease until it
expires, then anyone may claim them again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from newswatch.storage.engine import Database
from newswatch.storage.rows import (
    DigestRecord,
    FeedbackRow,
    MatchRow,
    SourceAlertRow,
    StoredItem,
    aware,
    fit_key,
    utcnow,
)
from newswatch.storage.schema import deliveries, digests, feedback, items, matches, source_alerts
from newswatch.storage.sql import insert_ignore

_CHUNK = 500
# built once, with an expanding IN list (built per batch with the ids inline, SQLAlchemy
# checked every id)
_DELETE_MATCHES = delete(matches).where(matches.c.item_id.in_(bindparam("ids", expanding=True)))
_MARK_MATCHED = update(items).where(items.c.id.in_(bindparam("ids", expanding=True))) \
    .values(matched_version=bindparam("version"))


@dataclass(frozen=True, slots=True)
class NewMatch:
    topic_id: str
    score: float
    evidence: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MatchKey:
    """The light first look of a digest: no texts, no evidence."""

    item_id: int
    topic_id: str
    score: float
    language: str
    source_id: str
    when: datetime


def item_from_row(r: Any) -> StoredItem:
    return StoredItem(id=r.id, source_id=r.source_id, url=r.url, title=r.title, summary=r.summary, body=r.body,
                      language=r.language, guid=r.guid, published=aware(r.published),
                      published_guessed=bool(r.published_guessed), first_seen=aware(r.first_seen),
                      updated_at=aware(r.updated_at))


class AlertsRepository:
    def __init__(self, db: Database):
        self.db = db

    # ---- items, as the matcher and the digests read them ----------------------------------
    def iter_items(self, since: Optional[datetime] = None, unmatched: bool = False,
                   batch: int = 500) -> Iterator[StoredItem]:
        """Items first seen after ``since`` (streamed, a page at a time); ``unmatched``: only
        those never matched with the current rows (new, or changed since) — an indexed lookup."""
        last_id = 0
        while True:
            q = select(items).where(items.c.id > last_id).order_by(items.c.id).limit(batch)
            if since is not None:
                q = q.where(items.c.first_seen >= since)
            if unmatched:
                q = q.where(items.c.matched_version.is_(None))
            with self.db.engine.connect() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            for row in rows:
                yield item_from_row(row)
            last_id = rows[-1].id

    def items_by_id(self, ids: Iterable[int]) -> dict[int, StoredItem]:
        wanted = list(ids)
        out: dict[int, StoredItem] = {}
        with self.db.engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                for r in conn.execute(select(items).where(items.c.id.in_(wanted[start:start + _CHUNK]))):
                    out[r.id] = item_from_row(r)
        return out

    def get_item(self, item_id: int) -> Optional[StoredItem]:
        return self.items_by_id([item_id]).get(item_id)

    def items_around(self, when: datetime, within: timedelta, limit: int = 2000) -> list[StoredItem]:
        """Items dated within ``within`` of ``when`` (published, else first seen), at most
        ``limit``, with only the start of their body: enough to tell whether they tell the
        same story."""
        date = func.coalesce(items.c.published, items.c.first_seen)
        cols = [c for c in items.c if c.name != "body"] + [func.substr(items.c.body, 1, 600).label("body")]
        q = (select(*cols).where(date >= when - within, date <= when + within)
             .order_by(items.c.id.desc()).limit(limit))
        with self.db.engine.connect() as conn:
            return [item_from_row(r) for r in conn.execute(q)]

    def has_unmatched(self) -> bool:
        """Whether any item waits to be matched (an indexed lookup)."""
        q = select(items.c.id).where(items.c.matched_version.is_(None)).limit(1)
        with self.db.engine.connect() as conn:
            return conn.execute(q).first() is not None

    def latest_items(self, limit: int, since: Optional[datetime] = None) -> list[StoredItem]:
        """The ``limit`` newest items (by first seen), oldest of them first."""
        q = select(items).order_by(items.c.id.desc()).limit(limit)
        if since is not None:
            q = q.where(items.c.first_seen >= since)
        with self.db.engine.connect() as conn:
            return [item_from_row(r) for r in reversed(conn.execute(q).all())]

    def item_by_url_key(self, url_key: str) -> Optional[StoredItem]:
        """The newest stored item with this address (any source)."""
        q = select(items).where(items.c.url_key == fit_key(url_key)).order_by(items.c.id.desc()).limit(1)
        with self.db.engine.connect() as conn:
            r = conn.execute(q).first()
        return item_from_row(r) if r is not None else None

    # ---- matches -------------------------------------------------------------------------
    def save_matches(self, batch: Sequence[tuple[int, Sequence[NewMatch]]], rules_version: str) -> None:
        """Replace the matches of these items and mark them matched with ``rules_version``."""
        if not batch:
            return
        now = utcnow()
        ids = [item_id for item_id, _ in batch]
        rows = [dict(item_id=item_id, topic_id=m.topic_id, score=m.score, evidence=m.evidence,
                     rules_version=rules_version, matched_at=now) for item_id, found in batch for m in found]
        with self.db.engine.begin() as conn:
            for start in range(0, len(ids), _CHUNK):
                part = ids[start:start + _CHUNK]
                conn.execute(_DELETE_MATCHES, {"ids": part})
                conn.execute(_MARK_MATCHED, {"ids": part, "version": rules_version})
            if rows:
                conn.execute(insert(matches), rows)

    def matches_for(self, topic_ids: Iterable[str], since: Optional[datetime] = None,
                    item_ids: Optional[Iterable[int]] = None, limit: Optional[int] = None) -> list[MatchRow]:
        """Stored matches of these topics (newest first), with their items and evidence;
        ``since`` is compared with the item's date (its publication date, or when it was first
        seen if it had none) — the date every listing shows."""
        topics = list(topic_ids)
        if not topics:
            return []
        q = (select(items, matches.c.topic_id, matches.c.score, matches.c.evidence)
             .join(matches, matches.c.item_id == items.c.id).where(matches.c.topic_id.in_(topics))
             .order_by(items.c.published.desc(), items.c.id.desc()))
        if since is not None:
            q = q.where(items.c.published >= since)
        if item_ids is not None:
            q = q.where(items.c.id.in_(list(item_ids)))
        if limit is not None:
            q = q.limit(limit)
        with self.db.engine.connect() as conn:
            return [MatchRow(item_from_row(r), r.topic_id, r.score, _json(r.evidence)) for r in conn.execute(q)]

    def undelivered(self, subscriber: str, topic_ids: Iterable[str], since: datetime,
                    now: Optional[datetime] = None) -> list[MatchKey]:
        """What a subscriber has not had yet: every (item, topic) of their topics first seen
        after ``since`` with no delivery row, or only a lapsed claim."""
        topics = list(topic_ids)
        if not topics:
            return []
        now = now or utcnow()
        taken = select(deliveries.c.item_id).where(
            deliveries.c.subscriber == subscriber,
            or_(deliveries.c.state == "sent", deliveries.c.lease_until >= now))
        q = (select(items.c.id, matches.c.topic_id, matches.c.score, items.c.language, items.c.source_id,
                    items.c.published, items.c.first_seen)
             .join(matches, matches.c.item_id == items.c.id)
             .where(matches.c.topic_id.in_(topics), items.c.first_seen >= since, items.c.id.not_in(taken))
             .order_by(items.c.id, matches.c.topic_id))
        out = []
        with self.db.engine.connect() as conn:
            for r in conn.execute(q):
                out.append(MatchKey(r.id, r.topic_id, r.score, r.language, r.source_id,
                                    aware(r.published) or aware(r.first_seen)))
        return out

    def evidence_for(self, pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], dict[str, Any]]:
        wanted = list(pairs)
        by_item: dict[int, set[str]] = {}
        for item_id, topic in wanted:
            by_item.setdefault(item_id, set()).add(topic)
        out: dict[tuple[int, str], dict[str, Any]] = {}
        ids = list(by_item)
        with self.db.engine.connect() as conn:
            for start in range(0, len(ids), _CHUNK):
                q = select(matches.c.item_id, matches.c.topic_id, matches.c.evidence).where(
                    matches.c.item_id.in_(ids[start:start + _CHUNK]))
                for r in conn.execute(q):
                    if r.topic_id in by_item[r.item_id]:
                        out[(r.item_id, r.topic_id)] = _json(r.evidence)
        return out

    # ---- delivery claims -----------------------------------------------------------------
    def claim(self, subscriber: str, item_ids: Iterable[int], owner: str, lease_until: datetime,
              now: Optional[datetime] = None) -> set[int]:
        """Claim these items for one digest; returns the ids this owner now holds. Items
        already sent, or held by another owner whose lease has not lapsed, are not returned."""
        ids = sorted(set(item_ids))
        if not ids:
            return set()
        now = now or utcnow()
        got: set[int] = set()
        with self.db.engine.begin() as conn:
            for start in range(0, len(ids), _CHUNK):
                part = ids[start:start + _CHUNK]
                conn.execute(insert_ignore(conn, deliveries, ["subscriber", "item_id"]),
                             [dict(subscriber=subscriber, item_id=i, state="sending", owner=owner,
                                   lease_until=lease_until, shown=True) for i in part])
                conn.execute(update(deliveries).where(
                    deliveries.c.subscriber == subscriber, deliveries.c.item_id.in_(part),
                    deliveries.c.state == "sending", deliveries.c.owner != owner,
                    deliveries.c.lease_until < now).values(owner=owner, lease_until=lease_until))
                got.update(conn.execute(select(deliveries.c.item_id).where(
                    deliveries.c.subscriber == subscriber, deliveries.c.item_id.in_(part),
                    deliveries.c.state == "sending", deliveries.c.owner == owner)).scalars())
        return got

    def mark_sent(self, subscriber: str, owner: str, message_id: str, at: datetime,
                  hidden: Iterable[int] = ()) -> int:
        """The mail server accepted the digest: its claimed rows become ``sent``."""
        hidden_ids = list(hidden)
        with self.db.engine.begin() as conn:
            mine = and_(deliveries.c.subscriber == subscriber, deliveries.c.owner == owner,
                        deliveries.c.state == "sending")
            n = conn.execute(update(deliveries).where(mine).values(
                state="sent", message_id=message_id, delivered_at=at, lease_until=None)).rowcount
            for start in range(0, len(hidden_ids), _CHUNK):
                conn.execute(update(deliveries).where(
                    deliveries.c.subscriber == subscriber, deliveries.c.message_id == message_id,
                    deliveries.c.item_id.in_(hidden_ids[start:start + _CHUNK])).values(shown=False))
        return n

    def record_sent(self, subscriber: str, item_ids: Iterable[int], message_id: str, at: datetime) -> int:
        """Record a delivery the mail server accepted, whoever claimed it (journal replay)."""
        ids = sorted(set(item_ids))
        with self.db.engine.begin() as conn:
            existing = {r.item_id for start in range(0, len(ids), _CHUNK) for r in conn.execute(
                select(deliveries.c.item_id).where(deliveries.c.subscriber == subscriber,
                                                   deliveries.c.item_id.in_(ids[start:start + _CHUNK])))}
            for start in range(0, len(ids), _CHUNK):
                conn.execute(update(deliveries).where(
                    deliveries.c.subscriber == subscriber, deliveries.c.item_id.in_(ids[start:start + _CHUNK])
                ).values(state="sent", message_id=message_id, delivered_at=at, lease_until=None))
            live = set(conn.execute(select(items.c.id).where(items.c.id.in_(ids))).scalars()) if ids else set()
            new = [dict(subscriber=subscriber, item_id=i, state="sent", message_id=message_id, delivered_at=at,
                        shown=True) for i in ids if i not in existing and i in live]
            if new:
                conn.execute(insert_ignore(conn, deliveries, ["subscriber", "item_id"]), new)
        return len(ids)

    def release(self, subscriber: str, owner: str) -> int:
        """The send failed: give the claimed items back, to be sent next time."""
        with self.db.engine.begin() as conn:
            return conn.execute(delete(deliveries).where(
                deliveries.c.subscriber == subscriber, deliveries.c.owner == owner,
                deliveries.c.state == "sending")).rowcount

    def claim_owners(self) -> set[str]:
        """Owners of claims still in state ``sending``."""
        with self.db.engine.connect() as conn:
            return set(conn.execute(select(deliveries.c.owner).where(deliveries.c.state == "sending")
                                    .distinct()).scalars())

    def expire_claims(self, owners: Iterable[str], now: datetime) -> int:
        """End the leases of these owners now (processes known to be dead)."""
        names = list(owners)
        if not names:
            return 0
        with self.db.engine.begin() as conn:
            return conn.execute(update(deliveries).where(
                deliveries.c.state == "sending", deliveries.c.owner.in_(names)).values(lease_until=now)).rowcount

    def delivered_count(self, subscriber: str) -> int:
        with self.db.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(deliveries).where(
                deliveries.c.subscriber == subscriber, deliveries.c.state == "sent")).scalar_one()

    # ---- the digest log ------------------------------------------------------------------
    def record_digest(self, rec: DigestRecord) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(insert(digests).values(subscriber=rec.subscriber, message_id=rec.message_id,
                                                status=rec.status, items=rec.items, created_at=rec.created_at,
                                                slot=rec.slot, error=(rec.error or None) and rec.error[:2000]))

    def last_digest(self, subscriber: str, status: str = "sent") -> Optional[DigestRecord]:
        with self.db.engine.connect() as conn:
            r = conn.execute(select(digests).where(digests.c.subscriber == subscriber, digests.c.status == status)
                             .order_by(digests.c.created_at.desc(), digests.c.id.desc()).limit(1)).first()
        return _digest(r) if r else None

    def last_digests(self, subscribers: Iterable[str], status: str = "sent") -> dict[str, DigestRecord]:
        """The newest digest of each subscriber with this status (one query)."""
        names = list(subscribers)
        if not names:
            return {}
        rank = func.row_number().over(partition_by=digests.c.subscriber,
                                      order_by=(digests.c.created_at.desc(), digests.c.id.desc())).label("rank")
        inner = select(digests, rank).where(digests.c.subscriber.in_(names), digests.c.status == status).subquery()
        with self.db.engine.connect() as conn:
            return {r.subscriber: _digest(r) for r in conn.execute(select(inner).where(inner.c.rank == 1))}

    def failures_since_success(self, subscriber: str) -> int:
        last_ok = self.last_digest(subscriber, "sent")
        q = select(func.count()).select_from(digests).where(digests.c.subscriber == subscriber,
                                                            digests.c.status == "failed")
        if last_ok is not None:
            q = q.where(digests.c.created_at > last_ok.created_at)
        with self.db.engine.connect() as conn:
            return conn.execute(q).scalar_one()

    # ---- operator alerts about sources ---------------------------------------------------
    def source_alert(self, source_id: str) -> Optional[SourceAlertRow]:
        with self.db.engine.connect() as conn:
            r = conn.execute(select(source_alerts).where(source_alerts.c.source_id == source_id)).first()
        return _alert(r) if r else None

    def source_alerts(self) -> dict[str, SourceAlertRow]:
        with self.db.engine.connect() as conn:
            return {r.source_id: _alert(r) for r in conn.execute(select(source_alerts))}

    def open_source_alert(self, source_id: str, kind: str, detail: str, since: datetime) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(insert_ignore(conn, source_alerts, ["source_id"]).values(
                source_id=source_id, kind=kind, detail=detail[:2000], since=since, notified=False))

    def mark_source_alert(self, source_id: str, notified: Optional[bool] = None,
                          recovered: Optional[datetime] = None) -> None:
        values: dict[str, Any] = {}
        if notified is not None:
            values["notified"] = notified
        if recovered is not None:
            values["recovered_at"] = recovered
        with self.db.engine.begin() as conn:
            conn.execute(update(source_alerts).where(source_alerts.c.source_id == source_id).values(**values))

    def close_source_alert(self, source_id: str) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(delete(source_alerts).where(source_alerts.c.source_id == source_id))

    # ---- analyst feedback ----------------------------------------------------------------
    def add_feedback(self, link_id: str, subscriber: str, verdict: str, at: datetime,
                     item_id: Optional[int] = None, topic_id: Optional[str] = None,
                     url: Optional[str] = None, title: Optional[str] = None) -> bool:
        """Record a verdict; False when this link was already used (the verdict stands)."""
        with self.db.engine.begin() as conn:
            return conn.execute(insert_ignore(conn, feedback, ["link_id"]).values(
                link_id=link_id, subscriber=subscriber, verdict=verdict, created_at=at, item_id=item_id,
                topic_id=topic_id, url=url, title=title)).rowcount == 1

    def feedback(self, since: Optional[datetime] = None) -> list[FeedbackRow]:
        q = select(feedback).order_by(feedback.c.created_at.desc(), feedback.c.id.desc())
        if since is not None:
            q = q.where(feedback.c.created_at >= since)
        with self.db.engine.connect() as conn:
            return [FeedbackRow(id=r.id, subscriber=r.subscriber, verdict=r.verdict, created_at=aware(r.created_at),
                                item_id=r.item_id, topic_id=r.topic_id, url=r.url, title=r.title)
                    for r in conn.execute(q)]


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    import json

    return json.loads(value)


def _digest(r: Any) -> DigestRecord:
    return DigestRecord(subscriber=r.subscriber, message_id=r.message_id, status=r.status, items=r.items,
                        created_at=aware(r.created_at), slot=aware(r.slot), error=r.error)


def _alert(r: Any) -> SourceAlertRow:
    return SourceAlertRow(source_id=r.source_id, kind=r.kind, detail=r.detail, since=aware(r.since),
                          notified=bool(r.notified), recovered_at=aware(r.recovered_at))


__all__ = ["AlertsRepository", "MatchKey", "NewMatch", "item_from_row", "Connection"]
