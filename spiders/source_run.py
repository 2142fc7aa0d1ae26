"""How one source is read, as settings.yaml says; spiders.spider runs many of these at once.

``kind: feed``     RSS 0.9x/1.0/2.0 or Atom, parsed by feedparser from the bytes Scrapy
                   fetched; a feed with errors still yields what it can, with a warning.
``kind: listing``  an HTML listing page read with the source's selectors, following
                   ``next`` pages up to ``max_pages``.
Either may follow each item's link and read the article page (``article`` selectors, or
the main-text extractor). A source with a ``fallback`` is read that way when the primary
URL fails or yields nothing.

Every crawl ends with a result for the source (status, HTTP code, counts, error); a page
that answers 200 but yields nothing through the selectors is a failure, not "no news".
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Optional
from urllib.parse import urljoin

import feedparser
from parsel import Selector
from scrapy.http import Request, Response

from spiders.dates import parse_date
from spiders.encoding import decode_body
from spiders.extract import all_text, first_text, html_to_text, main_text, select
from spiders.items import NewsItem, clean_text
from spiders.sources import ArticleRules, CrawlSettings, ListingRules, Source
from spiders.urls import canonical_url


# WordPress appends "The post <title> appeared first on <site>." to feed texts.
_FEED_FOOTER = re.compile(r"\s*The post .{1,400}? appeared first on [^.]{1,200}\.?\s*$", re.S)


def _strip_feed_footer(text: str) -> str:
    return _FEED_FOOTER.sub("", text) if text else text


log = logging.getLogger("newswatch.crawl")
# Statuses the spider judges itself; 3xx are left to Scrapy's redirect middleware.
HANDLED_STATUSES = [304] + list(range(400, 600))
EARLIEST = datetime(1991, 1, 1, tzinfo=timezone.utc)   # older than any watched site


class SourceRun:
    """The state and parsing of one source during one crawl. Its requests carry its own
    methods as callbacks; NewsSpider counts them to know when the source is done."""

    def __init__(self, source: Source, crawl_settings: CrawlSettings, store=None, verbose: bool = False):
        self.source = source
        self.crawl_settings = crawl_settings
        self.store = store
        self.verbose = verbose
        self.started = time.monotonic()
        self.started_at = datetime.now(timezone.utc)
        self.result: dict[str, Any] = {
            "source_id": source.id, "status": None, "http_status": None, "items_found": 0,
            "items_new": 0, "items_updated": 0, "error": None, "warnings": [], "used_fallback": False,
            "selector_report": [],
        }
        self._fallback_tried = False
        self._seen_links: set[str] = set()
        self.validators: dict[str, tuple] = {}
        self.store_failed = False

    # ---- helpers -----------------------------------------------------------------------
    def _meta(self) -> dict:
        return {"source_id": self.source.id, "dont_obey_robotstxt": not self.source.obey_robots}

    def _conditional_headers(self, url: str) -> dict:
        if self.store is None:
            return {}
        etag, modified = self.store.get_validators(url)
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
        return headers

    def _remember_validators(self, response: Response) -> None:
        """Kept until the crawl of this source ends and its items are stored (save_validators)."""
        etag = response.headers.get("ETag")
        modified = response.headers.get("Last-Modified")
        url = response.request.url if response.request else response.url
        self.validators[url] = (etag.decode("latin-1") if etag else None,
                                modified.decode("latin-1") if modified else None)

    def save_validators(self) -> None:
        if self.store is None or self.store_failed:
            return
        for url, (etag, modified) in self.validators.items():
            self.store.set_validators(url, etag, modified)

    def fail(self, message: str, http_status: Optional[int] = None) -> None:
        if http_status is not None:
            self.result["http_status"] = http_status
        if self.result["status"] != "ok":
            self.result["status"] = "failed"
            self.result["error"] = message
        log.warning("source %s: %s", self.source.id, message, extra={"source": self.source.id, "stage": "crawl"})

    def warn(self, message: str) -> None:
        self.result["warnings"].append(message)
        log.warning("source %s: %s", self.source.id, message, extra={"source": self.source.id, "stage": "crawl"})

    def report(self, what: str, selector: Optional[str], found: Any) -> None:
        if self.verbose:
            self.result["selector_report"].append({"what": what, "selector": selector, "found": found})

    # ---- start ---------------------------------------------------------------------------
    def start_requests(self) -> Iterator[Request]:
        yield self._page_request(self.source.url, self.source.kind, self.source.listing, page=1, primary=True)

    def _page_request(self, url: str, kind: str, listing: Optional[ListingRules], page: int, primary: bool) -> Request:
        return Request(
            url, callback=self.parse_page, errback=self.on_error, dont_filter=True,
            headers=self._conditional_headers(url) if page == 1 else {},
            meta={"kind": kind, "listing": listing, "page": page, "primary": primary,
                  "handle_httpstatus_list": HANDLED_STATUSES, **self._meta()},
        )

    def _try_fallback(self, why: str) -> Iterator[Request]:
        fb = self.source.fallback
        if fb is None or self._fallback_tried:
            return
        self._fallback_tried = True
        self.warn(f"{why}; trying fallback {fb.url}")
        self.result["used_fallback"] = True
        self.result["status"] = None
        yield self._page_request(fb.url, fb.kind, fb.listing, page=1, primary=False)

    def on_error(self, failure) -> Iterator[Request]:
        request = failure.request
        meta = request.meta
        reason = failure.getErrorMessage() or failure.type.__name__
        msg = f"{request.url}: {failure.type.__name__}: {reason}"
        if meta.get("article_of") is not None:
            # An article that cannot be fetched still leaves the listing/feed data.
            self.warn(f"article {msg}")
            yield from self._emit(meta["article_of"])
            return
        if meta.get("page", 1) > 1:
            self.warn(f"next page {msg}")
            return
        if meta.get("primary"):
            self.fail(msg)
            yield from self._try_fallback(f"{self.source.url} failed ({failure.type.__name__})")
        else:
            self.fail(f"fallback {msg}")

    # ---- pages ---------------------------------------------------------------------------
    def parse_page(self, response: Response):
        meta = response.meta
        status = response.status
        if meta["page"] == 1:
            self.result["http_status"] = status
        if status == 304:
            self.result["status"] = self.result["status"] or "not_modified"
            return
        if status >= 400:
            msg = f"{response.url}: HTTP {status}"
            if meta["page"] > 1:
                self.warn(f"next page {msg}")
                return
            self.fail(msg, status)
            if meta["primary"]:
                yield from self._try_fallback(f"{response.url} answered HTTP {status}")
            return
        if meta["kind"] == "feed":
            entries = list(self._parse_feed(response))
        else:
            entries = list(self._parse_listing(response, meta["listing"], meta["page"]))
            nxt = self._next_page(response, meta["listing"], meta["page"])
            if nxt:
                yield self._page_request(nxt, "listing", meta["listing"], meta["page"] + 1, meta["primary"])
        if entries:
            if meta["page"] == 1:
                self._remember_validators(response)
            if self.result["status"] is None or self.result["status"] == "failed":
                self.result["status"] = "ok"
                self.result["error"] = None
        elif meta["page"] == 1:
            if self.result["status"] != "failed":
                self.fail(self.result.pop("_empty_reason", None) or f"{response.url}: no items found")
            if meta["primary"]:
                yield from self._try_fallback(f"{response.url} yielded no items")
        for entry in entries:
            yield from self._follow_or_emit(entry)

    def _parse_feed(self, response: Response) -> Iterator[dict]:
        ctype = response.headers.get("Content-Type", b"").decode("latin-1")
        parsed = feedparser.parse(response.body, response_headers={"content-type": ctype} if ctype else {},
                                  sanitize_html=False, resolve_relative_uris=False)
        if parsed.bozo:
            exc = parsed.get("bozo_exception")
            kind = type(exc).__name__ if exc else "error"
            if not parsed.entries:
                self.result["_empty_reason"] = f"{response.url}: not a readable feed ({kind}: {exc})"
                return
            if kind not in ("CharacterEncodingOverride",):
                self.warn(f"feed has errors ({kind}: {exc}); kept the {len(parsed.entries)} entries that parse")
        if not parsed.entries and not parsed.feed:
            self.result["_empty_reason"] = f"{response.url}: not a feed (no channel or entries)"
            return
        self.report("entries", None, len(parsed.entries))
        limit = self.crawl_settings.max_items_per_source
        if len(parsed.entries) > limit:
            self.warn(f"feed has {len(parsed.entries)} entries; kept the first {limit} (crawl.max_items_per_source)")
        for e in parsed.entries[:limit]:
            link = e.get("link") or ""
            guid = e.get("id") or None
            if not link and guid and guid.startswith("http"):
                link = guid
            if not link:
                self.warn(f"entry without a link skipped: {clean_text(e.get('title'))[:80]!r}")
                continue
            body = ""
            if e.get("content"):
                body = html_to_text(" ".join(c.get("value", "") for c in e["content"]))
            summary = html_to_text(e.get("summary") or e.get("description") or "")
            summary, body = _strip_feed_footer(summary), _strip_feed_footer(body)
            if summary and body and summary == body:
                summary = body[:500]
            raw_date = e.get("published") or e.get("updated") or e.get("created")
            published = parse_date(raw_date, self.source.timezone) if raw_date else None
            if published is None:
                parsed_date = e.get("published_parsed") or e.get("updated_parsed")
                if parsed_date:
                    published = datetime(*parsed_date[:6], tzinfo=timezone.utc)
            yield {"link": urljoin(response.url, link.strip()), "title": html_to_text(e.get("title")),
                   "summary": summary, "body": body, "guid": guid, "published": published}

    def _parse_listing(self, response: Response, rules: ListingRules, page: int) -> Iterator[dict]:
        text, _enc = decode_body(response.body, response.headers.get("Content-Type", b"").decode("latin-1"))
        sel = Selector(text=text)
        nodes = select(sel, rules.item)
        self.report(f"page {page}: item", rules.item, len(nodes))
        if not nodes:
            self.result["_empty_reason"] = (f"{response.url}: item selector '{rules.item}' matched nothing "
                                            f"(layout changed?)")
            return
        found = 0
        limit = self.crawl_settings.max_items_per_source
        if len(nodes) > limit:
            self.warn(f"listing has {len(nodes)} entries; kept the first {limit} (crawl.max_items_per_source)")
        for node in nodes[:limit]:
            link = first_text(node, rules.link)
            title = first_text(node, rules.title)
            if not link:
                continue
            found += 1
            date_text = first_text(node, rules.date) if rules.date else ""
            if found == 1:
                self.report(f"page {page}: link", rules.link, link)
                self.report(f"page {page}: title", rules.title, title)
                if rules.date:
                    self.report(f"page {page}: date", rules.date, date_text)
                if rules.summary:
                    self.report(f"page {page}: summary", rules.summary, first_text(node, rules.summary)[:120])
            yield {"link": urljoin(response.url, link), "title": title,
                   "summary": first_text(node, rules.summary) if rules.summary else "",
                   "body": "", "guid": None,
                   "published": parse_date(date_text, self.source.timezone) if date_text else None,
                   "date_text": date_text}
        if not found:
            self.result["_empty_reason"] = (f"{response.url}: link selector '{rules.link}' found nothing in "
                                            f"{len(nodes)} items matched by '{rules.item}' (layout changed?)")

    def _next_page(self, response: Response, rules: ListingRules, page: int) -> Optional[str]:
        if not rules.next or page >= rules.max_pages:
            return None
        text, _ = decode_body(response.body, response.headers.get("Content-Type", b"").decode("latin-1"))
        href = first_text(Selector(text=text), rules.next)
        return urljoin(response.url, href) if href else None

    # ---- articles ------------------------------------------------------------------------
    def _follow_or_emit(self, entry: dict):
        if not entry["link"].lower().startswith(("http://", "https://")):
            # javascript:, mailto:, tel: … are not articles; a page full of them is no news
            self.warn(f"skipped a link that is not a web address: {entry['link'][:80]!r}")
            return
        canon = canonical_url(entry["link"])
        if canon in self._seen_links:
            return
        self._seen_links.add(canon)
        entry["canonical"] = canon
        rules = self.source.article
        wants_article = rules is not None or (self.source.kind == "listing" and not entry.get("summary"))
        if wants_article and len(self._seen_links) <= self.crawl_settings.article_limit:
            yield Request(entry["link"], callback=self.parse_article, errback=self.on_error, dont_filter=True,
                          meta={"article_of": entry, "handle_httpstatus_list": HANDLED_STATUSES, **self._meta()})
        else:
            yield from self._emit(entry)

    def parse_article(self, response: Response):
        entry = dict(response.meta["article_of"])
        if response.status >= 400:
            self.warn(f"article {response.url}: HTTP {response.status}")
            yield from self._emit(entry)
            return
        text, _ = decode_body(response.body, response.headers.get("Content-Type", b"").decode("latin-1"))
        rules = self.source.article or ArticleRules()
        sel = Selector(text=text)
        if rules.title or rules.date or rules.body:
            title = first_text(sel, rules.title) if rules.title else ""
            date_text = first_text(sel, rules.date) if rules.date else ""
            body = all_text(sel, rules.body) if rules.body else ""
            for what, expr, value in (("title", rules.title, title), ("date", rules.date, date_text),
                                      ("body", rules.body, body)):
                if expr:
                    self.report(f"article: {what}", expr, value[:120])
                    if not value:
                        self.warn(f"article {response.url}: {what} selector '{expr}' matched nothing")
        else:
            title, date_text, body = main_text(text)
        if rules.strip_prefix and body.startswith(rules.strip_prefix):
            body = body[len(rules.strip_prefix):].lstrip()
        if title:
            entry["title"] = title
        if body:
            entry["body"] = body
        if date_text:
            published = parse_date(date_text, self.source.timezone)
            if published:
                entry["published"] = published
        yield from self._emit(entry)

    def _emit(self, entry: dict) -> Iterator[NewsItem]:
        published = entry.get("published")
        now = datetime.now(timezone.utc)
        if published is not None and not (EARLIEST <= published <= now + timedelta(days=1)):
            # 1970 placeholders and far-future dates would sort wrongly for ever
            self.warn(f"{entry['link']}: implausible date {published.isoformat()}; using the first-seen time")
            published = None
        entry["published"] = published
        title = clean_text(entry.get("title"))
        if not title:
            title = clean_text(entry.get("summary"))[:120] or entry["link"]
        self.result["items_found"] += 1
        yield NewsItem(
            source_id=self.source.id, url=entry.get("canonical") or canonical_url(entry["link"]), title=title,
            summary=clean_text(entry.get("summary")), body=entry.get("body") or "",
            guid=entry.get("guid"), published=entry.get("published"),
            published_guessed=entry.get("published") is None, language=self.source.language,
            first_seen=datetime.now(timezone.utc),
        )
