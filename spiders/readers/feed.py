"""RSS 0.9x/1.0/2.0 and Atom, parsed by feedparser from the bytes Scrapy fetched. A feed with
errors still yields what it can, with a warning."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, Optional
from urllib.parse import urljoin

from newswatch.spiders.dates import parse_date
from newswatch.spiders.entry import Entry
from newswatch.spiders.htmltext import clean_text, html_to_text
from newswatch.spiders.readers.base import Page, PageRequest, ReaderContext, ReadOutcome
from newswatch.spiders.results import Finding

# WordPress appends "The post <title> appeared first on <site>." to feed texts.
_FEED_FOOTER = re.compile(r"\s*The post .{1,400}? appeared first on [^.]{1,200}\.?\s*$", re.S)


def _strip_footer(text: str) -> str:
    # the test first: the expression tries every place of a text that has no footer
    return _FEED_FOOTER.sub("", text) if text and "appeared first on" in text else text


class FeedReader:
    kind = "feed"

    def __init__(self, ctx: ReaderContext):
        self.ctx = ctx

    def start(self, url: str, stage: str) -> list[PageRequest]:
        return [PageRequest(url, kind=self.kind, stage=stage, conditional=True)]

    def read(self, page: Page) -> ReadOutcome:
        out = ReadOutcome()
        import feedparser  # here, not at the top: a cycle of 304s parses no feed

        headers = {"content-type": page.content_type} if page.content_type else {}
        parsed = feedparser.parse(page.body, response_headers=headers, sanitize_html=False,
                                  resolve_relative_uris=False)
        if parsed.bozo:
            exc = parsed.get("bozo_exception")
            kind = type(exc).__name__ if exc else "error"
            if not parsed.entries:
                out.empty_reason = f"{page.url}: not a readable feed ({kind}: {exc})"
                return out
            if kind != "CharacterEncodingOverride":
                out.warnings.append(f"feed has errors ({kind}: {exc}); kept the {len(parsed.entries)} entries "
                                    f"that parse")
        if not parsed.entries:
            if not parsed.feed:
                out.empty_reason = f"{page.url}: not a feed (no channel or entries)"
            else:
                out.empty_reason = f"{page.url}: the feed has no entries"
            return out
        out.findings.append(Finding("entries", "feed", len(parsed.entries)))
        limit = self.ctx.crawl.max_items_per_source
        raw = parsed.entries[:limit]
        if len(parsed.entries) > limit:
            out.warnings.append(f"feed has {len(parsed.entries)} entries; kept the first {limit} "
                                f"(crawl.max_items_per_source)")
        shared = self._shared_guids(raw)
        if shared:
            guid, links = next(iter(shared.items()))
            out.warnings.append(f"the feed gives {len(links)} different links the same GUID {guid[:80]!r}"
                                + (f" (and {len(shared) - 1} more GUIDs)" if len(shared) > 1 else "")
                                + "; those entries are identified by their link instead")
        for e in raw:
            entry = self._entry(e, page.url, shared)
            if entry is None:
                out.warnings.append(f"entry without a link skipped: {clean_text(e.get('title'))[:80]!r}")
                continue
            out.entries.append(entry)
        return out

    @staticmethod
    def _shared_guids(entries: list[Any]) -> dict[str, set[str]]:
        """GUIDs that the feed gives to entries with different links: not identities."""
        links: dict[str, set[str]] = defaultdict(set)
        for e in entries:
            guid = e.get("id")
            if guid:
                links[guid].add((e.get("link") or "").strip())
        return {g: ls for g, ls in links.items() if len(ls) > 1}

    def _entry(self, e: Any, base: str, shared: dict[str, set[str]]) -> Optional[Entry]:
        link = (e.get("link") or "").strip()
        guid = e.get("id") or None
        if not link and guid and guid.startswith(("http://", "https://")):
            link = guid
        if not link:
            return None
        if guid in shared:
            guid = None
        body = ""
        if e.get("content"):
            body = html_to_text(" ".join(c.get("value", "") for c in e["content"]))
        summary = html_to_text(e.get("summary") or e.get("description") or "")
        summary, body = _strip_footer(summary), _strip_footer(body)
        if summary and body and summary == body:
            summary = body[:500]
        published = self._date(e)
        categories = tuple(clean_text(t.get("term") or t.get("label")) for t in e.get("tags") or ()
                           if t.get("term") or t.get("label"))
        return Entry(link=urljoin(base, link), title=html_to_text(e.get("title")), summary=summary, body=body,
                     guid=guid, published=published, categories=categories,
                     methods={"title": "feed", "date": "feed", "body": "feed"})

    def _date(self, e: Any) -> Optional[datetime]:
        raw = e.get("published") or e.get("updated") or e.get("created")
        published = parse_date(raw, self.ctx.source.timezone) if raw else None
        if published is None:
            struct = e.get("published_parsed") or e.get("updated_parsed")
            if struct:
                published = datetime(*struct[:6], tzinfo=timezone.utc)
        return published
