"""Folding the same story from several sources into one digest entry ("also reported by").

Two entries are one story when their titles, or their ledes, share most of their words
(Jaccard similarity of content words, or containment of the shorter in the longer). The
earliest published copy leads; the others are listed under it.
"""

from __future__ import annotations

from alerts.render import Entry
from alerts.text import tokenize

TITLE_SIMILAR = 0.65
MIN_WORDS = 4          # shorter titles say too little to call two items one story
LEDE_SIMILAR = 0.45
CONTAINED = 0.8


def _words(text: str, limit: int = 60) -> frozenset[str]:
    out = []
    for tok in tokenize(text or ""):
        if len(tok.norm) > 3:          # short words and small numbers say little
            out.append(tok.norm[:6])   # a crude stem: Belarus/Belarusian, Ирана/Иран
        if len(out) >= limit:
            break
    return frozenset(out)


def _similar(a: frozenset, b: frozenset, threshold: float) -> bool:
    if len(a) < MIN_WORDS or len(b) < MIN_WORDS:
        return False
    inter = len(a & b)
    if inter / len(a | b) >= threshold:
        return True
    return inter / min(len(a), len(b)) >= CONTAINED and min(len(a), len(b)) >= 5


def same_story(x: Entry, y: Entry) -> bool:
    if _similar(_words(x.item.title), _words(y.item.title), TITLE_SIMILAR):
        return True
    lede_x = x.item.summary or x.item.body[:400]
    lede_y = y.item.summary or y.item.body[:400]
    return _similar(_words(lede_x, 40), _words(lede_y, 40), LEDE_SIMILAR)


def cluster(entries: list[Entry], source_names: dict[str, str]) -> list[Entry]:
    ordered = sorted(entries, key=lambda e: (e.item.published is None, e.item.published, e.item.id))
    leads: list[Entry] = []
    for e in ordered:
        for lead in leads:
            # one outlet's similar headlines are separate stories; folding is across outlets
            if lead.item.source_id != e.item.source_id and same_story(lead, e):
                lead.also.append((e.item, source_names.get(e.item.source_id, e.item.source_id)))
                break
        else:
            leads.append(e)
    return leads
