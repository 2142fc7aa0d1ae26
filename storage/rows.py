"""Typed rows: what the repositories take and give back. No row is read by position."""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Optional, overload


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@overload
def aware(dt: datetime) -> datetime: ...
@overload
def aware(dt: None) -> None: ...
def aware(dt: Optional[datetime]) -> Optional[datetime]:
    """SQLite gives naive datetimes back; everything stored is UTC."""
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt


KEY_CHARS = 512          # the width of the url_key and guid columns
_SURROGATE = re.compile("[\ud800-\udfff]")


def fit_key(key: str) -> str:
    """A URL key or GUID as its column holds it: longer ones keep their first 471 characters
    and a hash of the whole, so two long addresses that share a beginning stay two items
    and every comparison uses the same form."""
    if len(key) <= KEY_CHARS:
        return key
    return key[:KEY_CHARS - 41] + "#" + hashlib.sha1(key.encode("utf-8", "replace")).hexdigest()


def storable_text(text: str) -> str:
    """Text a database column can hold: no NUL (PostgreSQL refuses it) and no lone
    surrogate (no driver can encode it; it becomes U+FFFD)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    return text


def clean_text(text: Optional[str]) -> str:
    """Collapse whitespace: the store keeps plain text, never markup."""
    if not text:
        return ""
    return " ".join(text.split())


def content_hash(title: str, summary: str, body: str) -> str:
    """Hash of the words, not the markup: the same text under two URLs is one item."""
    words = " ".join(clean_text(x).lower() for x in (title, summary, body))
    return hashlib.sha1(words.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """An item as the crawl layer hands it over to be stored."""

    source_id: str
    url: str                                  # canonical URL
    url_key: str                              # the URL's identity (no scheme, no www.)
    title: str
    summary: str = ""
    body: str = ""
    guid: Optional[str] = None
    published: Optional[datetime] = None      # aware UTC; None: the page carried no usable date
    language: str = "en"
    first_seen: Optional[datetime] = None

    @property
    def content_hash(self) -> str:
        return content_hash(self.title, self.summary, self.body)

    def storable(self) -> ItemRecord:
        """This record as the store keeps it (``storable_text``, ``fit_key``): a feed's NUL
        or cut emoji must not fail its whole batch, nor a 600-character GUID."""
        texts = (self.url, self.title, self.summary, self.body)
        clean = tuple(storable_text(t) for t in texts)
        guid = fit_key(storable_text(self.guid)) if self.guid else self.guid
        url_key = fit_key(storable_text(self.url_key))
        if clean == texts and guid == self.guid and url_key == self.url_key:
            return self
        return replace(self, url=clean[0], title=clean[1], summary=clean[2], body=clean[3], guid=guid,
                       url_key=url_key)


@dataclass(frozen=True, slots=True)
class StoredItem:
    id: int
    source_id: str
    url: str
    title: str
    summary: str
    body: str
    language: str
    guid: Optional[str]
    published: Optional[datetime]
    published_guessed: bool
    first_seen: datetime
    updated_at: Optional[datetime] = None

    @property
    def when(self) -> datetime:
        return self.published or self.first_seen


class UpsertState(str, enum.Enum):
    NEW = "new"
    UPDATED = "updated"
    SAME = "same"
    PRUNED = "pruned"          # retention removed it earlier; seen again, it is not new


@dataclass(frozen=True, slots=True)
class UpsertOutcome:
    state: UpsertState
    item_id: Optional[int]


@dataclass(frozen=True)
class CrawlRun:
    source_id: str
    started_at: datetime
    finished_at: datetime
    status: str                               # ok | not_modified | failed
    http_status: Optional[int] = None
    items_found: int = 0
    items_new: int = 0
    items_updated: int = 0
    duration: float = 0.0
    error: Optional[str] = None
    warnings: tuple[str, ...] = ()
    report: tuple[dict[str, Any], ...] = ()
    used_fallback: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status in ("ok", "not_modified")


@dataclass(frozen=True, slots=True)
class MatchRow:
    """A stored match: the item, the topic and the evidence document the matcher wrote."""

    item: StoredItem
    topic_id: str
    score: float
    evidence: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DigestRecord:
    subscriber: str
    message_id: str
    status: str                               # sent | failed
    items: int
    created_at: datetime
    slot: Optional[datetime] = None
    error: Optional[str] = None


@dataclass(frozen=True, slots=True)
class SourceAlertRow:
    source_id: str
    kind: str                                 # failing | quiet
    detail: str
    since: datetime
    notified: bool
    recovered_at: Optional[datetime] = None


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    id: int
    subscriber: str
    verdict: str                              # relevant | not_relevant | missed
    created_at: datetime
    item_id: Optional[int] = None
    topic_id: Optional[str] = None
    url: Optional[str] = None
    title: Optional[str] = None


@dataclass
class SourceStats:
    """Per-source figures for the health views."""

    source_id: str
    items: int = 0
    last_item_seen: Optional[datetime] = None
    per_day: dict[str, int] = field(default_factory=dict)     # "YYYY-MM-DD" → items first seen


@dataclass(frozen=True, slots=True)
class ArchiveRow:
    """An item as the archive lists it: no body, the summary cut short, the topics it
    matched and the analysts' verdicts on it."""

    id: int
    source_id: str
    url: str
    title: str
    summary: str                              # the first ~300 characters ("…" when cut)
    language: str
    published: Optional[datetime]             # aware UTC
    first_seen: datetime                      # aware UTC
    topics: tuple[str, ...] = ()              # ids of the topics it matched, sorted
    relevant: int = 0                         # feedback verdicts "relevant"
    not_relevant: int = 0                     # feedback verdicts "not_relevant"

    @property
    def when(self) -> datetime:
        return self.published or self.first_seen


@dataclass(frozen=True, slots=True)
class ArchivePage:
    """One page of an archive search, and how many items the whole search found."""

    rows: list[ArchiveRow]
    total: int


@dataclass(frozen=True, slots=True)
class ArchiveMatch:
    topic_id: str
    score: float
    evidence: dict[str, Any]
    matched_at: datetime
    rules_version: str


@dataclass(frozen=True, slots=True)
class ArchiveItem:
    """One item with everything stored about it: all its fields, its matches (by topic) and
    the feedback on it (oldest first)."""

    item: StoredItem
    matched_version: Optional[str]
    matches: tuple[ArchiveMatch, ...]
    feedback: tuple[FeedbackRow, ...]
