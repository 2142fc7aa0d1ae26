"""An HTML listing page read with the source's selectors, following ``next`` pages up to
``max_pages``. A page that answers but yields nothing through the selectors is a failure,
and the failure says which selector found nothing and what the page has now instead."""

from __future__ import annotations

from typing import Optional
from urllib.parse import urljoin

from parsel import Selector

from newswatch.spiders.blocks import repeated_blocks, too_deep
from newswatch.spiders.dates import parse_date
from newswatch.spiders.entry import Entry
from newswatch.spiders.readers.base import Page, PageRequest, ReaderContext, ReadOutcome
from newswatch.spiders.results import Finding
from newswatch.spiders.selectors import all_texts, first_text, select
from newswatch.spiders.sources import ListingRules


def instead(html: str, url: str) -> str:
    """What the page offers now, for a failure message."""
    if too_deep(html):
        return ("; the page is nested more than 256 elements deep, so it cannot be read "
                "(a broken or hostile page, not a changed layout)")
    blocks = repeated_blocks(html, url, limit=1)
    if not blocks:
        return "; the page has no repeated blocks of links either (is it a JavaScript shell, or an error page?)"
    b = blocks[0]
    return (f"; the page now has {b.describe()} — try item: \"{b.selector}\", link: \"{b.link}\", "
            f"title: \"{b.title}\"" + (f", date: \"{b.date}\"" if b.date else ""))


class ListingReader:
    kind = "listing"

    def __init__(self, ctx: ReaderContext, rules: ListingRules):
        self.ctx = ctx
        self.rules = rules

    def start(self, url: str, stage: str) -> list[PageRequest]:
        return [PageRequest(url, kind=self.kind, stage=stage, conditional=True)]

    def read(self, page: Page) -> ReadOutcome:
        out = ReadOutcome()
        rules = self.rules
        html = page.text()
        sel = Selector(text=html)
        n = page.request.page
        nodes = select(sel, rules.item)
        out.findings.append(Finding(f"page {n}: item", rules.item, len(nodes)))
        if not nodes:
            why = instead(html, page.url)
            out.empty_reason = (f"{page.url}: {why[2:]}" if "nested" in why
                                else f"{page.url}: item selector '{rules.item}' matched nothing{why}")
            return out
        limit = self.ctx.crawl.max_items_per_source
        if len(nodes) > limit:
            out.warnings.append(f"listing has {len(nodes)} entries; kept the first {limit} "
                                f"(crawl.max_items_per_source)")
        no_link = not_article = 0
        for node in nodes[:limit]:
            candidates = all_texts(node, rules.link)
            if not candidates:
                no_link += 1
                continue
            link = self.ctx.links.pick(candidates, page.url)
            if link is None:
                not_article += 1
                continue
            title = first_text(node, rules.title)
            date_text = first_text(node, rules.date) if rules.date else ""
            summary = first_text(node, rules.summary) if rules.summary else ""
            entry = Entry(link=link, title=title, summary=summary, date_text=date_text,
                          published=parse_date(date_text, self.ctx.source.timezone) if date_text else None,
                          methods={"title": f"listing {rules.title}", "date": f"listing {rules.date}"})
            if not out.entries:
                out.findings += [Finding(f"page {n}: link", rules.link, link),
                                 Finding(f"page {n}: title", rules.title, title)]
                if rules.date:
                    out.findings.append(Finding(f"page {n}: date", rules.date, date_text))
                if rules.summary:
                    out.findings.append(Finding(f"page {n}: summary", rules.summary, summary[:120]))
            out.entries.append(entry)
        if not_article:
            out.warnings.append(f"{not_article} of {len(nodes)} entries on {page.url} had no link matching "
                                f"link_pattern '{self.ctx.source.link_pattern}'")
        if not out.entries:
            if not_article:
                out.empty_reason = (f"{page.url}: no link in the {len(nodes)} entries matched by '{rules.item}' "
                                    f"matches link_pattern '{self.ctx.source.link_pattern}'")
            else:
                out.empty_reason = (f"{page.url}: link selector '{rules.link}' found nothing in the {len(nodes)} "
                                    f"entries matched by '{rules.item}'{instead(html, page.url)}")
        nxt = self._next(sel, page)
        if nxt:
            out.follow.append(PageRequest(nxt, kind=self.kind, stage=page.request.stage, page=n + 1))
        return out

    def _next(self, sel: Selector, page: Page) -> Optional[str]:
        if not self.rules.next or page.request.page >= self.rules.max_pages:
            return None
        href = first_text(sel, self.rules.next)
        return urljoin(page.url, href) if href else None
