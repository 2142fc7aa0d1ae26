"""A JSON listing endpoint: items at a dotted path, with paths for link, title, date and
summary. Some sites (mfa.gov.by) want a token read from an HTML page first: the reader
fetches that page, reads the token with a selector and sends it as a query parameter."""

from __future__ import annotations

import json
from typing import Any, Optional
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from parsel import Selector

from newswatch.spiders.dates import parse_date
from newswatch.spiders.entry import Entry
from newswatch.spiders.htmltext import clean_text, html_to_text
from newswatch.spiders.readers.base import Page, PageRequest, ReaderContext, ReadOutcome
from newswatch.spiders.results import Finding
from newswatch.spiders.selectors import first_text
from newswatch.spiders.sources import JsonRules


def dig(data: Any, path: str) -> Any:
    """``a.b.0.c`` into nested dicts and lists; None where the path breaks."""
    if not path:
        return data
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def with_params(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


class JsonReader:
    kind = "json"

    def __init__(self, ctx: ReaderContext, rules: JsonRules):
        self.ctx = ctx
        self.rules = rules
        self.url = ""

    def start(self, url: str, stage: str) -> list[PageRequest]:
        self.url = url
        if self.rules.token:
            return [PageRequest(self.rules.token.page, purpose="token", kind=self.kind, stage=stage)]
        return [self._api(url, stage, 1, None)]

    def _api(self, url: str, stage: str, page: int, token: Optional[str]) -> PageRequest:
        params = {}
        if token is not None and self.rules.token:
            params[self.rules.token.param] = token
        if self.rules.page_param:
            params[self.rules.page_param] = str(page)
        return PageRequest(with_params(url, params) if params else url, kind=self.kind, stage=stage, page=page,
                           token=token, conditional=page == 1 and token is None)

    def read(self, page: Page) -> ReadOutcome:
        req = page.request
        if req.purpose == "token":
            return self._read_token(page)
        out = ReadOutcome()
        try:
            data = json.loads(page.text())
        except ValueError as exc:
            out.empty_reason = f"{page.url}: the answer is not JSON ({exc})"
            return out
        rows = dig(data, self.rules.items)
        if not isinstance(rows, list):
            out.empty_reason = (f"{page.url}: no list at '{self.rules.items or '(top)'}' in the JSON answer "
                                f"(top-level keys: {', '.join(list(data)[:10]) if isinstance(data, dict) else type(data).__name__})")
            return out
        out.findings.append(Finding(f"page {req.page}: items", self.rules.items or "(top)", len(rows)))
        base = self.rules.token.page if self.rules.token else page.url
        skipped = 0
        for row in rows[: self.ctx.crawl.max_items_per_source]:
            link = dig(row, self.rules.link)
            if not isinstance(link, str) or not link.strip():
                continue
            url = urljoin(base, link.strip())
            if not self.ctx.links.is_article(url):
                skipped += 1
                continue
            date_text = str(dig(row, self.rules.date) or "") if self.rules.date else ""
            summary = dig(row, self.rules.summary) if self.rules.summary else ""
            out.entries.append(Entry(
                link=url, title=html_to_text(str(dig(row, self.rules.title) or "")),
                summary=html_to_text(str(summary or "")), date_text=clean_text(date_text),
                published=parse_date(date_text, self.ctx.source.timezone) if date_text else None,
                methods={"title": f"json {self.rules.title}", "date": f"json {self.rules.date}"}))
        if skipped:
            out.warnings.append(f"{skipped} link(s) in {page.url} do not match link_pattern "
                                f"'{self.ctx.source.link_pattern}'")
        if not out.entries and not out.empty_reason:
            out.empty_reason = (f"{page.url}: {len(rows)} JSON items but no link at '{self.rules.link}'"
                                if rows else f"{page.url}: the JSON list '{self.rules.items}' is empty")
        if out.entries and req.page < self.rules.max_pages and self.rules.page_param:
            out.follow.append(self._api(self.url, req.stage, req.page + 1, req.token))
        return out

    def _read_token(self, page: Page) -> ReadOutcome:
        out = ReadOutcome()
        token_rules = self.rules.token
        assert token_rules is not None
        token = first_text(Selector(text=page.text()), token_rules.selector)
        out.findings.append(Finding("token", token_rules.selector, token[:40]))
        if not token:
            out.empty_reason = (f"{page.url}: token selector '{token_rules.selector}' found nothing; "
                                f"the JSON endpoint cannot be asked without it")
            return out
        out.follow.append(self._api(self.url, page.request.stage, 1, token))
        return out
