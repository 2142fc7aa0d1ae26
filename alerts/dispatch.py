"""The digest job: for each due subscriber, gather undelivered matches, fold duplicate
stories together, render, send, and record the deliveries once the server accepted them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Optional

from alerts.delivery import EmailSettings, Transport
from alerts.errors import DeliveryError
from alerts.digest import Subscription
from alerts.render import Digest, Entry, SourceState, TopicSection, build_message, mime_bodies, render_html
from alerts.rules import Topic
from alerts.stories import cluster
from spiders.sources import Source
from spiders.store import Store

log = logging.getLogger("newswatch.digest")
# Undelivered items older than this (first seen) are no longer sent: a digest after a month
# of mail outage still holds the month, and the digest query stays bounded as the store grows.
BACKLOG = timedelta(days=30)


@dataclass
class DispatchResult:
    subscriber: str
    status: str            # sent | not_due | empty | failed | backoff | preview | dry_run
    items: int = 0
    where: Optional[str] = None
    error: Optional[str] = None


def retry_wait(failures: int) -> Optional[timedelta]:
    """1, 2, 4 … minutes after consecutive failed sends, at most an hour."""
    if failures <= 0:
        return None
    return timedelta(minutes=min(60, 2 ** (failures - 1)))


def source_health(store: Store, sources: Iterable[Source]) -> list[SourceState]:
    states = []
    for s in sources:
        history = store.crawl_history(s.id, limit=50)
        if not history:
            states.append(SourceState(s.id, s.label, ok=True))
            continue
        if history[0].status in ("ok", "not_modified"):
            states.append(SourceState(s.id, s.label, ok=True))
            continue
        since = history[0].finished_at
        for run in history:
            if run.status in ("ok", "not_modified"):
                break
            since = run.finished_at
        states.append(SourceState(s.id, s.label, ok=False, failing_since=since, last_error=history[0].error))
    return states


class DigestCache:
    """Within one dispatch, subscribers who would get the same items under the same topics
    share one folded, rendered and encoded digest (analysts often follow the same topics)."""

    def __init__(self):
        self.sections: dict[tuple, list[TopicSection]] = {}
        self.bodies: dict[tuple, tuple] = {}


def build_digest(store: Store, sub: Subscription, topics: dict[str, Topic], source_names: dict[str, str],
                 health: list[SourceState], now: datetime, list_id: str = "newswatch.localhost",
                 cache: Optional[DigestCache] = None) -> tuple[Digest, tuple]:
    """The subscriber's digest, and a key naming its content (for sharing renderings)."""
    since = now - BACKLOG
    keys = [k for k in store.match_keys_for(sub.topics, undelivered_to=sub.name, since=since)
            if k[2] >= sub.min_score and (not sub.languages or k[3] in sub.languages)]
    content_key = (tuple(sub.topics), tuple((item_id, topic_id) for item_id, topic_id, _, _ in keys))
    if cache is not None and content_key in cache.sections:
        sections = cache.sections[content_key]
    else:
        wanted = {(item_id, topic_id) for item_id, topic_id, _, _ in keys}
        rows = [r for r in store.matches_for(sub.topics, undelivered_to=sub.name, since=since)
                if (r[0].id, r[1]) in wanted]
        sections = _sections(sub, rows, topics, source_names, now)
        if cache is not None:
            cache.sections[content_key] = sections
    digest = Digest(subscription=sub, sections=sections, sources=health, generated_at=now, list_id=list_id)
    return digest, content_key


def _sections(sub: Subscription, rows: list, topics: dict[str, Topic], source_names: dict[str, str],
              now: datetime) -> list[TopicSection]:
    by_item: dict[int, list[tuple]] = {}
    for item, topic_id, _score, evidence in rows:
        by_item.setdefault(item.id, []).append((item, topic_id, evidence))
    # Each item appears once, under the topic it is most about (highest score; ties go to
    # the subscriber's order), with the other topics named.
    order = {t: i for i, t in enumerate(sub.topics)}
    placed: dict[str, list[Entry]] = {t: [] for t in sub.topics}
    for found in by_item.values():
        item, topic_id, evidence = max(found, key=lambda f: (f[2].get("score", 0), -order[f[1]]))
        others = [topics[f[1]].label if f[1] in topics else f[1] for f in found if f[1] != topic_id]
        placed[topic_id].append(Entry(item, topic_id, evidence, source_names.get(item.source_id, item.source_id),
                                      other_topics=others))
    sections = []
    for topic_id in sub.topics:
        entries = cluster(placed[topic_id], source_names)
        entries.sort(key=lambda e: e.item.published or now, reverse=True)
        title = topics[topic_id].label if topic_id in topics else topic_id
        sections.append(TopicSection(topic_id, title, entries))
    return sections


def dispatch(store: Store, subscriptions: Iterable[Subscription], topics: dict[str, Topic],
             sources: list[Source], email: EmailSettings, transport: Optional[Transport],
             now: Optional[datetime] = None, only: Optional[str] = None, dry_run: bool = False,
             preview_dir: Optional[str] = None, force: bool = False, backoff: bool = False) -> list[DispatchResult]:
    """Send every due digest. ``preview_dir`` writes HTML and records nothing; ``dry_run``
    builds and reports without sending or recording; ``backoff`` (the service) waits longer
    after each consecutive failed send before trying again."""
    now = now or datetime.now(timezone.utc)
    health = source_health(store, sources)
    names = {s.id: s.label for s in sources}
    cache = DigestCache()
    results = []
    for sub in subscriptions:
        if only and sub.name != only:
            continue
        previewing = preview_dir is not None
        if not (force or previewing or dry_run) and not sub.cadence.is_due(store.last_digest(sub.name), now, sub.zone):
            results.append(DispatchResult(sub.name, "not_due"))
            continue
        if backoff and not (force or previewing or dry_run):
            wait = retry_wait(store.failures_since_success(sub.name))
            last_failed = store.last_digest(sub.name, "failed")
            if wait and last_failed and now - last_failed < wait:
                results.append(DispatchResult(sub.name, "backoff", error=f"last send failed; next try after "
                                              f"{(last_failed + wait).isoformat(timespec='seconds')}"))
                continue
        digest, content_key = build_digest(store, sub, topics, names, health, now, email.list_id, cache)
        if previewing:
            path = Path(preview_dir)
            path.mkdir(parents=True, exist_ok=True)
            out = path / f"{sub.name}.html"
            out.write_text(render_html(digest), encoding="utf-8")
            results.append(DispatchResult(sub.name, "preview", digest.count, str(out)))
            continue
        if digest.count == 0 and not sub.send_empty:
            results.append(DispatchResult(sub.name, "empty"))
            continue
        if dry_run:
            results.append(DispatchResult(sub.name, "dry_run", digest.count))
            continue
        look = (content_key, sub.timezone, sub.digest)       # all the templates read of the subscriber
        if look not in cache.bodies:
            cache.bodies[look] = mime_bodies(digest)
        msg = build_message(digest, email.from_, cache.bodies[look])
        try:
            where = transport.send(msg)
        except DeliveryError as exc:
            log.error("digest for %s not delivered (will retry next run): %s", sub.name, exc)
            store.record_failed_digest(sub.name, msg["Message-ID"], digest.count, str(exc), at=now)
            results.append(DispatchResult(sub.name, "failed", digest.count, error=str(exc)))
            continue
        store.record_delivery(sub.name, digest.item_ids, msg["Message-ID"], at=now)
        log.info("digest for %s: %d items delivered to %s", sub.name, digest.count, where)
        results.append(DispatchResult(sub.name, "sent", digest.count, where))
    return results
