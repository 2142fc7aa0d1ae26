"""An article page: metadata first (JSON-LD, OpenGraph, ``<time>``), then the source's
selectors as overrides, then a main-text and date extractor (trafilatura, htmldate) for
whatever is still missing. Each field remembers the method that produced it."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Optional
from zoneinfo import ZoneInfo

from parsel import Selector

from newswatch.spiders.dates import parse_date
from newswatch.spiders.entry import Entry
from newswatch.spiders.htmltext import clean_text
from newswatch.spiders.metadata import read_metadata
from newswatch.spiders.readers.base import Page, ReaderContext, ReadOutcome
from newswatch.spiders.results import Finding
from newswatch.spiders.selectors import all_texts, first_text, remove
from newswatch.spiders.sources import ArticleRules

_ISO_CLOCK = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)")


def local_clock(stamp: str, zone: str) -> Optional[datetime]:
    """A machine timestamp whose stated offset is wrong (it carries local clock time):
    keep its clock, read it in ``zone``."""
    m = _ISO_CLOCK.match(stamp.strip())
    if not m:
        return None
    return parse_date(f"{m.group(1)} {m.group(2)}", ZoneInfo(zone))


def _site_suffix(title: str, site: Optional[str]) -> str:
    if site:
        for sep in (" | ", " - ", " — ", " – "):
            if title.endswith(sep + site):
                return title[: -len(sep + site)].strip()
    return title


class ArticleReader:
    kind = "article"

    def __init__(self, ctx: ReaderContext, rules: Optional[ArticleRules]):
        self.ctx = ctx
        self.rules = rules or ArticleRules()

    def read(self, page: Page, entry: Entry) -> tuple[Entry, ReadOutcome]:
        out = ReadOutcome()
        rules = self.rules
        html = page.text()
        sel = Selector(text=html)
        meta = read_metadata(sel)
        methods = dict(entry.methods)
        tz = self.ctx.source.timezone

        # title: selector > JSON-LD headline > og:title > <h1> > the listing's title
        title = first_text(sel, rules.title) if rules.title else ""
        if title:
            methods["title"] = f"selector {rules.title}"
        elif rules.title:
            out.warnings.append(f"article {page.url}: title selector '{rules.title}' matched nothing")
        if not title and meta.title:
            site = sel.css('meta[property="og:site_name"]::attr(content)').get()
            title, methods["title"] = _site_suffix(meta.title, site), meta.methods["title"]
        if not title:
            title = first_text(sel, "article h1") or first_text(sel, "main h1") or first_text(sel, "h1")
            if title:
                methods["title"] = "<h1>"
        title = title or entry.title

        # date: selector > metadata > the listing's or feed's date > htmldate
        published = None
        if rules.date:
            date_text = first_text(sel, rules.date)
            published = parse_date(date_text, tz) if date_text else None
            if published:
                methods["date"] = f"selector {rules.date}"
            else:
                out.warnings.append(f"article {page.url}: date selector '{rules.date}' "
                                    + ("matched nothing" if not date_text else f"gave {date_text[:40]!r}, not a date"))
        if published is None and meta.published:
            published = (local_clock(meta.published, rules.date_zone) if rules.date_zone
                         else parse_date(meta.published, tz))
            if published:
                methods["date"] = meta.methods["date"] + (f" (clock read in {rules.date_zone})" if rules.date_zone else "")
        if published is None and entry.published is None:
            published = self._htmldate(html, tz)
            if published:
                methods["date"] = "htmldate"
        published = published or entry.published

        # body: selector (minus the blocks to remove) > main-text extractor > what the entry had
        body = ""
        if rules.body:
            if rules.remove:
                remove(sel, rules.remove)
            body = "\n".join(all_texts(sel, rules.body))
            if body:
                methods["body"] = f"selector {rules.body}"
            else:
                out.warnings.append(f"article {page.url}: body selector '{rules.body}' matched nothing; "
                                    f"used the main-text extractor")
        if not body:
            body = self._main_text(html)
            if body:
                methods["body"] = "trafilatura"
        if body and rules.strip_prefix and body.startswith(rules.strip_prefix):
            body = body[len(rules.strip_prefix):].lstrip()
        body = body or entry.body
        summary = entry.summary or (meta.description or "")

        if self.ctx.verbose:
            out.findings += [Finding("article: title", methods.get("title"), title[:120]),
                             Finding("article: date", methods.get("date"), published.isoformat() if published else ""),
                             Finding("article: body", methods.get("body"), body[:120])]
        return entry.with_fields(title=title, published=published, body=body, summary=summary,
                                 methods=methods), out

    @staticmethod
    def _htmldate(html: str, tz: str) -> Optional[datetime]:
        try:
            from htmldate import find_date
        except ImportError:   # pragma: no cover - htmldate comes with trafilatura
            return None
        try:
            found = find_date(html, extensive_search=False, original_date=True, outputformat="%Y-%m-%d")
        except Exception:   # noqa: BLE001 - a last resort must never fail the article
            return None
        return parse_date(found, tz) if found else None

    @staticmethod
    def _main_text(html: str) -> str:
        try:
            import trafilatura
        except ImportError:   # pragma: no cover - trafilatura is a dependency
            return ""
        try:
            text = trafilatura.extract(html, include_comments=False, include_tables=False, favor_precision=True)
        except Exception:   # noqa: BLE001 - a last resort must never fail the article
            return ""
        # keep paragraphs apart: sentences are found per paragraph when matching
        return "\n".join(line for line in (clean_text(x) for x in (text or "").splitlines()) if line)
