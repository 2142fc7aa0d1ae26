"""The digest a subscriber receives, as one immutable view object.

The templates receive a ``Digest`` and nothing else, so everything they can show is in it —
and two subscribers share a rendered body only when their ``Digest`` objects are equal
(the render cache is keyed on the object itself). A template that starts showing the
subscriber's name needs the name in this object, which makes the views differ: one
subscriber's body can never reach another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional
from zoneinfo import ZoneInfo

from newswatch.alerts.evidence import Evidence
from newswatch.storage.rows import StoredItem


@dataclass(frozen=True)
class FeedbackLinks:
    relevant: str
    not_relevant: str


@dataclass(frozen=True)
class DigestEntry:
    item: StoredItem
    topic_id: str
    evidence: Evidence
    source_name: str
    also: tuple[tuple[StoredItem, str], ...] = ()      # the same story elsewhere: (item, source name)
    other_topics: tuple[str, ...] = ()
    feedback: Optional[FeedbackLinks] = None

    @property
    def item_ids(self) -> tuple[int, ...]:
        return (self.item.id,) + tuple(i.id for i, _ in self.also)


@dataclass(frozen=True)
class TopicSection:
    topic_id: str
    title: str
    entries: tuple[DigestEntry, ...]
    more: int = 0                                       # stories not shown (over the cap)
    more_link: Optional[str] = None


@dataclass(frozen=True)
class SourceLine:
    name: str
    ok: bool
    failing_since: Optional[datetime] = None


@dataclass(frozen=True)
class Digest:
    sections: tuple[TopicSection, ...]
    sources: tuple[SourceLine, ...]                     # the enabled sources that were crawled
    unchecked: int                                      # enabled sources not crawled yet
    generated_at: datetime
    timezone: str
    cadence: str
    topics: tuple[str, ...]
    manage: str                                         # a link to the subscription page, or how to change it
    missed_link: Optional[str] = None
    hidden_ids: tuple[int, ...] = field(default=(), compare=False, hash=False)   # counted under "N more"

    @property
    def count(self) -> int:
        return sum(len(s.entries) for s in self.sections)

    @property
    def total(self) -> int:
        return self.count + sum(s.more for s in self.sections)

    @property
    def shown_ids(self) -> list[int]:
        return [i for s in self.sections for e in s.entries for i in e.item_ids]

    @property
    def item_ids(self) -> list[int]:
        """Everything this digest delivers: shown entries, their duplicates, and the stories
        counted under "N more"."""
        return self.shown_ids + list(self.hidden_ids)

    @property
    def failing(self) -> list[SourceLine]:
        return [s for s in self.sources if not s.ok]

    def local(self, dt: Optional[datetime]) -> str:
        if dt is None:
            return ""
        return dt.astimezone(ZoneInfo(self.timezone)).strftime("%d %b %Y %H:%M")

    def subject(self) -> str:
        parts = [f"{s.title}: {len(s.entries) + s.more}" for s in self.sections if s.entries]
        if not parts:
            return "newswatch: no new items"
        total = self.total
        return " ".join(f"newswatch: {total} new item{'s' if total != 1 else ''} — {'; '.join(parts)}".split())[:200]

    def summary(self) -> str:
        total = self.total
        topics = len([s for s in self.sections if s.entries])
        return f"{total} new item{'s' if total != 1 else ''} in {topics} topic{'s' if topics != 1 else ''}"
