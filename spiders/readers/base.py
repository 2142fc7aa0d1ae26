"""What every reader shares: the page it is given, the requests it asks for, what it found.

A reader turns one fetched page of one kind (a feed, a listing page, a sitemap, a JSON
answer, an article) into entries and further requests. Readers never fetch and never touch
Scrapy: ``SourceRun`` fetches through Scrapy and hands them ``Page`` objects, and
``newswatch probe`` hands them a saved file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Optional, Protocol
from urllib.parse import urljoin

import re2

from newswatch.spiders.encoding import decode_body
from newswatch.spiders.entry import Entry
from newswatch.spiders.results import Finding
from newswatch.spiders.sources import CrawlSettings, Source


@dataclass(frozen=True)
class PageRequest:
    url: str
    purpose: str = "page"             # page | article | token
    stage: str = "primary"            # primary | fallback
    kind: str = "feed"                # the reader that reads the answer
    page: int = 1                     # page number (listing, json) or depth (sitemap index)
    entry: Optional[Entry] = None     # the entry an article request completes
    conditional: bool = False         # send the stored ETag / Last-Modified
    token: Optional[str] = None       # a token read from an HTML page first (json)


@dataclass(frozen=True)
class Page:
    request: PageRequest
    url: str                           # after redirects
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)   # lower-case names

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def text(self) -> str:
        return decode_body(self.body, self.content_type)[0]


@dataclass
class ReadOutcome:
    entries: list[Entry] = field(default_factory=list)
    follow: list[PageRequest] = field(default_factory=list)
    empty_reason: Optional[str] = None          # why a page that answered gave no entries
    warnings: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


class PageReader(Protocol):
    kind: str

    def start(self, url: str, stage: str) -> list[PageRequest]:
        """The first requests for this kind of page at ``url``."""

    def read(self, page: Page) -> ReadOutcome:
        """Entries and further requests from one fetched page."""


class LinkFilter:
    """``link_pattern``, ``include`` and ``exclude`` of a source: which links are articles,
    and which articles the operator wants."""

    def __init__(self, source: Source):
        self.pattern = re2.compile(source.link_pattern) if source.link_pattern else None
        self.include_urls = [re2.compile(p) for p in (source.include.urls if source.include else [])]
        self.exclude_urls = [re2.compile(p) for p in (source.exclude.urls if source.exclude else [])]
        self.include_cats = {c.casefold() for c in (source.include.categories if source.include else [])}
        self.exclude_cats = {c.casefold() for c in (source.exclude.categories if source.exclude else [])}

    def is_article(self, url: str) -> bool:
        return self.pattern is None or self.pattern.search(url) is not None

    def pick(self, candidates: list[str], base: str) -> Optional[str]:
        """The first candidate link that is an article (a listing entry may hold a rubric
        or tag link before the article link)."""
        for href in candidates:
            url = urljoin(base, href.strip())
            if self.is_article(url):
                return url
        return None

    def wanted(self, entry: Entry) -> Optional[str]:
        """None if the operator wants this entry, else why not."""
        if self.include_urls and not any(p.search(entry.link) for p in self.include_urls):
            return "URL not in include.urls"
        if any(p.search(entry.link) for p in self.exclude_urls):
            return "URL in exclude.urls"
        cats = {c.casefold() for c in entry.categories}
        if self.include_cats and not (cats & self.include_cats):
            return "category not in include.categories"
        if cats & self.exclude_cats:
            return "category in exclude.categories"
        return None


@dataclass(frozen=True)
class ReaderContext:
    source: Source
    crawl: CrawlSettings
    links: LinkFilter
    verbose: bool = False
