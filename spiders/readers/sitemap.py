"""XML sitemaps and sitemap indexes (Scrapy's sitemap parser): the newest article URLs by
``lastmod``, within ``max_age``, at most ``max_urls``; an index is followed to the sitemaps
it lists (newest first). Entries carry only a link (and ``lastmod`` as a provisional date):
the article page gives the rest."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap

from newswatch.spiders.dates import parse_date
from newswatch.spiders.entry import Entry
from newswatch.spiders.readers.base import Page, PageRequest, ReaderContext, ReadOutcome
from newswatch.spiders.results import Finding
from newswatch.spiders.sources import SitemapRules

MAX_DEPTH = 3          # index → index → sitemap is as deep as real sites go
MAX_CHILD_SITEMAPS = 5


class SitemapReader:
    kind = "sitemap"

    def __init__(self, ctx: ReaderContext, rules: Optional[SitemapRules]):
        self.ctx = ctx
        self.rules = rules or SitemapRules()

    def start(self, url: str, stage: str) -> list[PageRequest]:
        return [PageRequest(url, kind=self.kind, stage=stage, conditional=True)]

    def read(self, page: Page, now: Optional[datetime] = None) -> ReadOutcome:
        out = ReadOutcome()
        body = page.body
        if body[:2] == b"\x1f\x8b":
            try:
                body = gunzip(body, max_size=self.ctx.crawl.max_response_size)
            except (OSError, ValueError) as exc:
                out.empty_reason = f"{page.url}: a gzip sitemap that does not unpack ({exc})"
                return out
        try:
            sitemap = Sitemap(body)
            rows = list(sitemap)
        except Exception as exc:   # noqa: BLE001 - lxml raises several types on junk
            out.empty_reason = f"{page.url}: not a readable sitemap ({type(exc).__name__}: {exc})"
            return out
        now = now or datetime.now(timezone.utc)
        oldest = now - self.rules.max_age
        dated = []
        for row in rows:
            loc = (row.get("loc") or "").strip()
            if not loc:
                continue
            when = parse_date(row.get("lastmod"), self.ctx.source.timezone) if row.get("lastmod") else None
            dated.append((when, loc))
        out.findings.append(Finding(f"{sitemap.type}", "sitemap", len(dated)))
        # newest first; undated ones after the dated
        dated.sort(key=lambda d: d[0] or datetime.min.replace(tzinfo=timezone.utc), reverse=True)
        if sitemap.type == "sitemapindex":
            if page.request.page >= MAX_DEPTH:
                out.warnings.append(f"{page.url}: sitemap index nested deeper than {MAX_DEPTH}; not followed")
                return out
            children = [loc for when, loc in dated if when is None or when >= oldest][:MAX_CHILD_SITEMAPS]
            if not children:
                out.empty_reason = f"{page.url}: no sitemap in this index changed within {self.rules.max_age}"
            out.follow = [PageRequest(u, kind=self.kind, stage=page.request.stage, page=page.request.page + 1)
                          for u in children]
            return out
        if sitemap.type != "urlset":
            out.empty_reason = f"{page.url}: not a sitemap (root element <{sitemap.type}>)"
            return out
        recent = [(when, loc) for when, loc in dated if when is None or when >= oldest]
        links = self.ctx.links
        skipped = 0
        for when, loc in recent:
            if not links.is_article(loc):
                skipped += 1
                continue
            out.entries.append(Entry(link=loc, published=when, methods={"date": "sitemap lastmod"}))
            if len(out.entries) >= self.rules.max_urls:
                break
        if skipped:
            out.warnings.append(f"{skipped} URL(s) in {page.url} do not match link_pattern "
                                f"'{self.ctx.source.link_pattern}'")
        if not out.entries:
            out.empty_reason = (f"{page.url}: none of its {len(dated)} URLs changed within {self.rules.max_age}"
                                if dated else f"{page.url}: the sitemap lists no URLs")
        return out
