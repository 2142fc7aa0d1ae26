"""The match job: run the rules over stored items and keep the evidence in the store."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from alerts.matcher import Matcher
from spiders.items import NewsItem
from spiders.store import Store

log = logging.getLogger("newswatch.match")
BATCH = 500       # items matched per transaction


@dataclass
class MatchStats:
    items: int = 0
    matched: int = 0
    matches: int = 0


def item_fields(item: NewsItem) -> dict[str, str]:
    return {"title": item.title, "summary": item.summary, "body": item.body}


def match_stored(store: Store, matcher: Matcher, since: Optional[datetime] = None, all_items: bool = False) -> MatchStats:
    """Match items never matched yet (new, or changed since). ``all_items`` re-matches every
    stored item with the current rules (``newswatch rematch``); otherwise a rules change
    applies to new items only, so old stories do not arrive again as news."""
    version = matcher.rulebook.version
    stats = MatchStats()
    batch: list[tuple[int, list[dict]]] = []
    for item in store.iter_items(since=since, unmatched=not all_items):
        found = matcher.match(item_fields(item))
        batch.append((item.id, [{"topic_id": m.topic_id, "score": m.score, "evidence": m.evidence} for m in found]))
        stats.items += 1
        if found:
            stats.matched += 1
            stats.matches += len(found)
        if len(batch) >= BATCH:
            store.save_matches_batch(batch, version)
            batch = []
    store.save_matches_batch(batch, version)
    log.info("matched %d items: %d matched %d topic(s) in all", stats.items, stats.matched, stats.matches)
    return stats
