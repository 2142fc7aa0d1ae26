"""Folding the same story from several outlets into one digest entry ("also reported by").

Two entries are one story when their titles, or their ledes, share most of their content
words (Jaccard similarity, or containment of the shorter in the longer). The earliest
published copy leads; the others are listed under it. Items of one outlet are never folded
together: one outlet's similar headlines are separate stories.

Word sets are computed once per entry and candidates are found through an index of words,
so a digest of hundreds of items folds in milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from newswatch.alerts.digest import DigestEntry
from newswatch.storage.rows import StoredItem

TITLE_SIMILAR = 0.65
LEDE_SIMILAR = 0.45
CONTAINED = 0.8
MIN_WORDS = 4          # shorter titles say too little to call two items one story
_WORD = re.compile(r"[^\W\d_]{4,}")


def words(text: str, limit: int = 60) -> frozenset[str]:
    """Content words, cut to six letters: a crude stem (Belarus/Belarusian, Ирана/Иран)."""
    return frozenset(w[:6] for w in _WORD.findall((text or "").casefold().replace("ё", "е"))[:limit])


def _similar(a: frozenset, b: frozenset, threshold: float) -> bool:
    if len(a) < MIN_WORDS or len(b) < MIN_WORDS:
        return False
    inter = len(a & b)
    if inter / len(a | b) >= threshold:
        return True
    return inter / min(len(a), len(b)) >= CONTAINED and min(len(a), len(b)) >= 5


def _signature(item: StoredItem) -> tuple[frozenset, frozenset]:
    lede = item.summary or item.body[:400]
    return words(item.title), words(lede, 40)


def cluster(entries: list[DigestEntry], source_names: dict[str, str]) -> list[DigestEntry]:
    """The entries with each story once: leads, each with its duplicates under ``also``."""
    ordered = sorted(entries, key=lambda e: (e.item.published is None, e.item.published, e.item.id))
    leads: list[tuple[DigestEntry, frozenset, frozenset, list]] = []
    index: dict[str, list[int]] = {}           # word → leads whose title or lede has it
    for e in ordered:
        title, lede = _signature(e.item)
        shared: dict[int, int] = {}
        for w in title | lede:
            for li in index.get(w, ()):
                shared[li] = shared.get(li, 0) + 1
        for li in sorted(k for k, n in shared.items() if n >= 3):   # similar pairs share ≥ 3 words
            lead, ltitle, llede, also = leads[li]
            if lead.item.source_id != e.item.source_id and (
                    _similar(ltitle, title, TITLE_SIMILAR) or _similar(llede, lede, LEDE_SIMILAR)):
                also.append((e.item, source_names.get(e.item.source_id, e.item.source_id)))
                break
        else:
            for w in title | lede:
                index.setdefault(w, []).append(len(leads))
            leads.append((e, title, lede, []))
    return [replace(lead, also=tuple(also)) if also else lead for lead, _, _, also in leads]


def same_story(item: StoredItem, candidates: Iterable[StoredItem]) -> list[StoredItem]:
    """Items from other sources that tell the same story as ``item`` (the digest's "also
    reported by", for one item)."""
    title, lede = _signature(item)
    return [c for c in candidates if c.source_id != item.source_id and c.id != item.id
            and (_similar(title, _signature(c)[0], TITLE_SIMILAR) or _similar(lede, _signature(c)[1], LEDE_SIMILAR))]
