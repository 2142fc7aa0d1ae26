"""The match job: run the rules over stored items and keep the evidence in the store.

New and changed items are matched once; a rules change applies to new items only, so old
stories do not arrive again as news. ``newswatch rematch`` re-applies the rules to stored
items on demand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Optional

from newswatch.storage.alerts_repo import AlertsRepository, NewMatch
from newswatch.storage.rows import StoredItem

if TYPE_CHECKING:         # the matcher is loaded only when there is something to match
    from newswatch.alerts.matcher import Matcher

log = logging.getLogger("newswatch.match")
BATCH = 500       # items matched per transaction


@dataclass
class MatchStats:
    items: int = 0
    matched: int = 0
    matches: int = 0

    def add(self, other: MatchStats) -> None:
        self.items += other.items
        self.matched += other.matched
        self.matches += other.matches


def item_fields(item: StoredItem) -> dict[str, str]:
    return {"title": item.title, "summary": item.summary, "body": item.body}


def match_stored_items(repo: AlertsRepository, matcher: Matcher, since: Optional[datetime] = None,
                       all_items: bool = False) -> MatchStats:
    """Match items never matched yet (new, or changed since); ``all_items`` re-matches
    every stored item (first seen after ``since``) with the current rules."""
    version = matcher.rulebook.version
    stats = MatchStats()
    batch: list[tuple[int, list[NewMatch]]] = []
    for item in repo.iter_items(since=since, unmatched=not all_items):
        found = matcher.match(item_fields(item))
        batch.append((item.id, [NewMatch(m.topic_id, m.score, m.evidence.to_json()) for m in found]))
        stats.items += 1
        if found:
            stats.matched += 1
            stats.matches += len(found)
        if len(batch) >= BATCH:
            repo.save_matches(batch, version)
            batch = []
    repo.save_matches(batch, version)
    if stats.items:
        log.info("matched %d item(s): %d matched %d topic(s) in all", stats.items, stats.matched, stats.matches)
    return stats
