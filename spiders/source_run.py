"""The state of one source during one crawl: which stage it is in (the primary URL, then the
fallback), which pages are outstanding, which articles to follow, and its result.

Readers parse; this class decides. A stage succeeds when its pages gave entries, is "not
modified" when its first page answered 304, and fails otherwise — a page that answers 200
but yields nothing is a failure, not "no news". A failed primary stage starts the fallback.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from newswatch.spiders.entry import Entry
from newswatch.spiders.htmltext import clean_text
from newswatch.spiders.readers import reader_for
from newswatch.spiders.readers.base import LinkFilter, Page, PageReader, PageRequest, ReaderContext
from newswatch.spiders.results import Finding, SourceResult, SourceStatus
from newswatch.spiders.sources import CrawlSettings, Source
from newswatch.spiders.urls import canonical_url, identity_key
from newswatch.storage.rows import ItemRecord

log = logging.getLogger("newswatch.crawl")
EARLIEST = datetime(1991, 1, 1, tzinfo=timezone.utc)     # older than any watched site
MAX_TITLE = 1000


@dataclass
class _Stage:
    name: str
    reader: PageReader
    pending: int = 0
    entries: int = 0
    not_modified: bool = False
    reason: Optional[str] = None
    http_status: Optional[int] = None
    validators: dict[str, tuple[Optional[str], Optional[str]]] = field(default_factory=dict)


class SourceRun:
    def __init__(self, source: Source, crawl: CrawlSettings,
                 validators: Optional[dict[str, tuple[Optional[str], Optional[str]]]] = None,
                 verbose: bool = False):
        self.source = source
        self.crawl = crawl
        self.ctx = ReaderContext(source, crawl, LinkFilter(source), verbose)
        self.known_validators = validators or {}
        self.result = SourceResult(source.id)
        self.started = time.monotonic()
        self._articles: Optional[Any] = None
        self.stage = _Stage("primary", reader_for(self.ctx, source))
        self.done_stages: list[_Stage] = []
        self._seen: set[str] = set()
        self._followed = 0
        self._skipped_reasons: dict[str, int] = {}
        self.store_failed = False

    # ---- requests ------------------------------------------------------------------------
    def start(self) -> list[PageRequest]:
        return self._open(self.stage.reader.start(self.source.url, "primary"))

    def conditional_headers(self, req: PageRequest) -> dict[str, str]:
        if not req.conditional:
            return {}
        etag, modified = self.known_validators.get(req.url, (None, None))
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
        return headers

    def _open(self, reqs: list[PageRequest]) -> list[PageRequest]:
        self.stage.pending += len(reqs)
        return reqs

    def articles(self) -> Any:
        """The article reader, made (and imported: parsel, trafilatura) when first needed."""
        if self._articles is None:
            from newswatch.spiders.readers.article import ArticleReader

            self._articles = ArticleReader(self.ctx, self.source.article)
        return self._articles

    # ---- answers -------------------------------------------------------------------------
    def on_page(self, page: Page) -> tuple[list[ItemRecord], list[PageRequest]]:
        req = page.request
        stage = self.stage
        if req.purpose != "token" and req.page == 1:
            stage.http_status = page.status
        if page.status == 304:
            stage.not_modified = True
            return [], self._page_done()
        if page.status >= 400:
            self._page_failed(req, f"{page.url}: HTTP {page.status}")
            return [], self._page_done()
        outcome = stage.reader.read(page)
        for w in outcome.warnings:
            self.warn(w)
        self._findings(outcome.findings)
        follow = self._open(outcome.follow)
        if outcome.empty_reason and not outcome.follow and not outcome.entries:
            self._page_failed(req, outcome.empty_reason)
        records, articles = self._take(outcome.entries)
        if outcome.entries and req.conditional:
            etag, modified = page.headers.get("etag"), page.headers.get("last-modified")
            stage.validators[req.url] = (etag, modified)
        return records, follow + articles + self._page_done()

    def on_page_error(self, req: PageRequest, message: str) -> list[PageRequest]:
        self._page_failed(req, message)
        return self._page_done()

    def on_article(self, page: Page) -> list[ItemRecord]:
        entry = page.request.entry
        assert entry is not None
        if page.status >= 400:
            self.warn(f"article {page.url}: HTTP {page.status}; kept what the {self.stage.reader.kind} said")
            return self._records([entry])
        try:
            entry, outcome = self.articles().read(page, entry)
        except Exception as exc:   # noqa: BLE001 - one bad article must not fail the source
            self.warn(f"article {page.url}: could not be read ({type(exc).__name__}: {exc})")
            return self._records([entry])
        for w in outcome.warnings:
            self.warn(w)
        if self.ctx.verbose and not any(f.what.startswith("article:") for f in self.result.findings):
            self._findings(outcome.findings)
        return self._records([entry])

    def on_article_error(self, req: PageRequest, message: str) -> list[ItemRecord]:
        self.warn(f"article {message}; kept what the {self.stage.reader.kind} said")
        return self._records([req.entry] if req.entry else [])

    # ---- internals -----------------------------------------------------------------------
    def _page_failed(self, req: PageRequest, message: str) -> None:
        if req.page > 1 or req.purpose == "article":
            self.warn(f"page {req.page}: {message}")
            return
        if self.stage.reason is None:
            self.stage.reason = message

    def _page_done(self) -> list[PageRequest]:
        """One page of the stage is answered; when none is left, decide the stage."""
        stage = self.stage
        stage.pending -= 1
        if stage.pending > 0:
            return []
        self.done_stages.append(stage)
        if stage.entries:
            self.result.status = SourceStatus.OK
            self.result.error = None
        elif stage.not_modified and stage.reason is None:
            self.result.status = SourceStatus.NOT_MODIFIED
        else:
            reason = stage.reason or "no items found"
            prefix = "fallback " if stage.name == "fallback" else ""
            self.fail(prefix + reason, stage.http_status)
            if stage.name == "primary" and self.source.fallback is not None:
                fb = self.source.fallback
                self.warn(f"{reason}; trying the fallback {fb.url}")
                self.result.used_fallback = True
                self.stage = _Stage("fallback", reader_for(self.ctx, fb))
                return self._open(self.stage.reader.start(fb.url, "fallback"))
        if self.result.http_status is None or stage.name == "primary":
            self.result.http_status = stage.http_status
        return []

    def _take(self, entries: list[Entry]) -> tuple[list[ItemRecord], list[PageRequest]]:
        """Entries to store now, and article pages to fetch for the others."""
        now_records: list[Entry] = []
        articles: list[PageRequest] = []
        for entry in entries:
            if not entry.link.lower().startswith(("http://", "https://")):
                self.warn(f"skipped a link that is not a web address: {entry.link[:80]!r}")
                continue
            canon = canonical_url(entry.link)
            if canon in self._seen:
                continue
            self._seen.add(canon)
            why = self.ctx.links.wanted(entry)
            if why:
                self._skipped_reasons[why] = self._skipped_reasons.get(why, 0) + 1
                self.result.items_skipped += 1
                continue
            self.stage.entries += 1
            if self._should_follow(entry) and self._followed < self.crawl.article_limit:
                self._followed += 1
                articles.append(PageRequest(entry.link, purpose="article", stage=self.stage.name, entry=entry))
            else:
                now_records.append(entry)
        return self._records(now_records), articles

    def _should_follow(self, entry: Entry) -> bool:
        if self.source.follow is not None:
            return self.source.follow
        if self.source.article is not None:
            return True
        # a listing, sitemap or JSON entry without text has nothing to match on
        return self.stage.reader.kind != "feed" and not (entry.summary or entry.body)

    def _records(self, entries: list[Entry]) -> list[ItemRecord]:
        out = []
        now = datetime.now(timezone.utc)
        for entry in entries:
            published = entry.published
            if published is not None and not (EARLIEST <= published <= now + timedelta(days=1)):
                # 1970 placeholders and far-future dates would sort wrongly for ever
                self.warn(f"{entry.link}: implausible date {published.isoformat()}; using the first-seen time")
                published = None
            title = clean_text(entry.title)[:MAX_TITLE] or clean_text(entry.summary)[:120] or entry.link
            canon = canonical_url(entry.link)
            out.append(ItemRecord(source_id=self.source.id, url=canon, url_key=identity_key(canon, True),
                                  title=title, summary=clean_text(entry.summary), body=entry.body or "",
                                  guid=entry.guid, published=published, language=self.source.language,
                                  first_seen=now))
        self.result.items_found += len(out)
        return out

    def _findings(self, findings: list[Finding]) -> None:
        if self.ctx.verbose or len(self.result.findings) < 12:
            self.result.findings.extend(findings)

    def warn(self, message: str) -> None:
        if message not in self.result.warnings:
            self.result.warnings.append(message)
            log.warning("source %s: %s", self.source.id, message, extra={"source": self.source.id, "stage": "crawl"})

    def fail(self, message: str, http_status: Optional[int] = None) -> None:
        if self.result.status is SourceStatus.OK:
            return
        self.result.status = SourceStatus.FAILED
        self.result.error = message
        if http_status is not None:
            self.result.http_status = http_status

    # ---- the end -------------------------------------------------------------------------
    def validators_to_save(self) -> dict[str, tuple[Optional[str], Optional[str]]]:
        """Saved only after the items are stored, and only if storing went well: a feed
        whose items were lost is fetched whole next time."""
        if self.store_failed or self.result.status is not SourceStatus.OK:
            return {}
        out = {}
        for stage in self.done_stages:
            out.update(stage.validators)
        return out

    def finish(self, reason: str = "finished") -> SourceResult:
        res = self.result
        if self.stage.pending > 0 and res.status is not SourceStatus.OK:
            res.status = SourceStatus.FAILED
            res.error = res.error or f"crawl ended ({reason}) before the source answered"
        elif self.stage.pending > 0:
            res.warnings.append(f"crawl ended early ({reason}); some pages were not read")
        for why, n in self._skipped_reasons.items():
            res.warnings.append(f"{n} entr{'y' if n == 1 else 'ies'} skipped: {why}")
        res.finished_at = datetime.now(timezone.utc)
        res.duration = round(time.monotonic() - self.started, 3)
        return res
