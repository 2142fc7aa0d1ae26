"""``newswatch probe``: look at one page (a URL, or a saved file) and say what to configure.

The page is recognised as a feed (feedparser), a sitemap (Scrapy's sitemap parser), a
JSON listing (lists of objects with links), or HTML. For HTML it proposes listing
selectors from the page's repeated blocks with links and dates (``spiders.blocks``, with
how many each finds), lists the feeds and sitemaps the page links to, and reads the
article metadata the page carries (JSON-LD, OpenGraph, ``<time>``) — so an operator sets
up or repairs a source in minutes. The result is a report and a ``sources:`` entry to
start from.
"""

from __future__ import annotations

import json
import re
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional
from urllib.parse import urljoin, urlsplit

import feedparser
from parsel import Selector
from scrapy.utils.sitemap import Sitemap

from newswatch.spiders.blocks import repeated_blocks
from newswatch.spiders.dates import parse_date
from newswatch.spiders.encoding import decode_body
from newswatch.spiders.htmltext import clean_text
from newswatch.spiders.metadata import read_metadata
from newswatch.spiders.urlpolicy import UrlPolicy

MAX_BYTES = 10_000_000
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json", "application/xml",
               "text/xml")


class ProbeError(Exception):
    """The page could not be read (a message a person can act on)."""


@dataclass
class Probe:
    url: str
    kind: str                                        # feed | sitemap | json | listing | article | unknown
    lines: list[str] = field(default_factory=list)   # the report, one finding per line
    source: dict[str, Any] = field(default_factory=dict)   # a sources: entry to start from

    def text(self) -> str:
        out = [f"{self.url}: looks like a {self.kind}"] + [f"  {line}" for line in self.lines]
        if self.source:
            out.append("")
            out.append("a sources: entry to start from (check each selector against a few pages):")
            out += ["  " + line for line in _yaml(self.source).splitlines()]
        return "\n".join(out)


def fetch(url: str, user_agent: str, timeout: float = 30.0, allow_private: bool = False,
          configured: Optional[list[str]] = None) -> tuple[bytes, str, str]:
    """(body, content type, final URL), following redirects under the URL policy.
    ``configured``: the addresses that may be private (by default the URL asked for: an
    operator's own command line; the workbench gives the configured sources' addresses)."""
    policy = UrlPolicy([url] if configured is None else configured, allow_private=allow_private)

    class Checked(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
            why = policy.refusal(newurl)
            if why:
                raise ProbeError(f"{url}: redirected to {newurl}, which is refused: {why}")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    why = policy.refusal(url)
    if why:
        raise ProbeError(f"{url}: refused: {why}")
    opener = urllib.request.build_opener(Checked)
    request = urllib.request.Request(url, headers={"User-Agent": user_agent, "Accept": "*/*"})
    try:
        with opener.open(request, timeout=timeout) as resp:
            body = resp.read(MAX_BYTES + 1)
            if len(body) > MAX_BYTES:
                raise ProbeError(f"{url}: larger than {MAX_BYTES // 1_000_000} MB; not a page to probe")
            return body, resp.headers.get("Content-Type", ""), resp.geturl()
    except ProbeError:
        raise
    except urllib.error.HTTPError as exc:
        raise ProbeError(f"{url}: the server answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProbeError(f"{url}: cannot fetch it ({reason})") from None


def probe(body: bytes, url: str, content_type: str = "") -> Probe:
    head = body[:2048].lstrip().lower()
    if head.startswith((b"{", b"[")) or "json" in content_type:
        found = _json(body, url)
        if found is not None:
            return found
    if b"<urlset" in head or b"<sitemapindex" in head:
        return _sitemap(body, url)
    if b"<rss" in head or b"<feed" in head or b"<rdf:rdf" in head:
        return _feed(body, url)
    return _html(body, url, content_type)


def _feed(body: bytes, url: str) -> Probe:
    parsed = feedparser.parse(body)
    out = Probe(url, "feed")
    entries = parsed.entries
    out.lines.append(f"{len(entries)} entries; feed title {parsed.feed.get('title', '')!r}")
    dates = [parse_date(e.get("published") or e.get("updated") or "", "UTC") for e in entries]
    dated = [d for d in dates if d]
    if dated:
        age = (datetime.now(timezone.utc) - max(dated)).days
        note = f"{age} days ago: stale? look for a listing or sitemap" if age > 14 else "current"
        out.lines.append(f"newest entry {max(dated):%Y-%m-%d %H:%M} UTC ({note}), oldest {min(dated):%Y-%m-%d}")
    else:
        out.lines.append("no entry carries a date: the article pages' dates will be used")
    for e in entries[:3]:
        out.lines.append(f"e.g. {clean_text(e.get('title', ''))[:80]!r} → {e.get('link', '')}")
    cats = sorted({t.get("term", "") for e in entries for t in e.get("tags", []) if t.get("term")})
    if cats:
        out.lines.append(f"categories ({len(cats)}): {', '.join(cats[:12])} — include/exclude can filter by them")
    out.source = {"id": _slug(url), "kind": "feed", "url": url, "follow": True}
    return out


def _sitemap(body: bytes, url: str) -> Probe:
    out = Probe(url, "sitemap")
    try:
        rows = list(Sitemap(body))
        kind = Sitemap(body).type
    except Exception as exc:   # noqa: BLE001 - lxml raises several types on junk
        out.lines.append(f"not a readable sitemap: {exc}")
        return out
    out.lines.append(f"a {kind} of {len(rows)} entries")
    dated = sorted((d, r.get("loc", "")) for r in rows if (d := parse_date(r.get("lastmod") or "", "UTC")))
    if dated:
        out.lines.append(f"lastmod from {dated[0][0]:%Y-%m-%d} to {dated[-1][0]:%Y-%m-%d}")
    locs = [r.get("loc", "") for r in rows][:200]
    pattern = _common_pattern(locs)
    for loc in locs[:3]:
        out.lines.append(f"e.g. {loc}")
    out.source = {"id": _slug(url), "kind": "sitemap", "url": url, "sitemap": {"max_age": "7d", "max_urls": 50},
                  "follow": True}
    if pattern:
        out.source["link_pattern"] = pattern
        out.lines.append(f"most entries match link_pattern {pattern!r}")
    return out


def _json(body: bytes, url: str) -> Optional[Probe]:
    try:
        data = json.loads(body.decode("utf-8-sig", "replace"))
    except ValueError:
        return None
    out = Probe(url, "json")
    best: Optional[tuple[str, list]] = None
    for path, value in _arrays(data, ""):
        objs = [v for v in value if isinstance(v, dict)]
        if objs and (best is None or len(objs) > len(best[1])):
            best = (path, objs)
    if best is None:
        out.lines.append("no list of objects in the answer")
        return out
    path, objs = best
    keys = sorted({k for o in objs for k in o})
    out.lines.append(f"{len(objs)} objects at {path or '(top level)'!r}; keys: {', '.join(keys[:15])}")
    spec: dict[str, Any] = {"items": path}
    for role, names in (("link", ("url", "link", "href", "path")), ("title", ("title", "name", "headline")),
                        ("date", ("date", "published", "pubDate", "created", "time"))):
        key = next((k for k in names if k in keys), None)
        spec[role] = key
        if key:
            out.lines.append(f"{role}: {key!r} (e.g. {str(objs[0].get(key))[:70]!r})")
    out.source = {"id": _slug(url), "kind": "json", "url": url, "json": spec, "follow": True}
    return out


def _arrays(data: Any, path: str) -> list[tuple[str, list]]:
    out: list[tuple[str, list]] = []
    if isinstance(data, list):
        out.append((path, data))
    elif isinstance(data, dict):
        for k, v in data.items():
            out += _arrays(v, f"{path}.{k}" if path else str(k))
    return out


def _html(body: bytes, url: str, content_type: str) -> Probe:
    html, _ = decode_body(body, content_type)
    sel = Selector(text=html)
    feeds = sorted({urljoin(url, h) for h in sel.xpath(
        "//link[@rel='alternate'][contains(@type,'rss') or contains(@type,'atom')]/@href").getall()})
    feeds += sorted({urljoin(url, h) for h in sel.css("a::attr(href)").getall()
                     if re.search(r"(rss|atom|feed)(\.xml|/|$)|sitemap[^/]*\.xml", h, re.I)} - set(feeds))
    blocks = repeated_blocks(html, url)
    meta = read_metadata(sel)
    is_article = bool(meta.published and (meta.title or sel.css("h1")))
    kind = "article" if is_article and (not blocks or blocks[0].count < 6) else "listing" if blocks else "unknown"
    out = Probe(url, kind)
    if feeds:
        out.lines.append("feeds and sitemaps linked: " + ", ".join(feeds[:6]) + " — a feed is the cheapest way in")
    if blocks:
        out.lines.append("repeated blocks with links (candidate listing items, best first):")
        for b in blocks[:5]:
            date = f", date {b.date}" if b.date else ""
            out.lines.append(f"  {b.count:>3} × {b.selector}: link {b.link}, title {b.title}{date} "
                             f"(e.g. {b.sample_title[:50]!r})")
    if meta.title or meta.published:
        methods = ", ".join(f"{k} by {v}" for k, v in meta.methods.items())
        out.lines.append(f"article metadata: title {meta.title!r}, published {meta.published!r} ({methods})")
    h1 = clean_text(" ".join(sel.css("h1 ::text").getall()))
    if h1:
        out.lines.append(f"h1: {h1[:90]!r}")
    if kind == "listing" and blocks:
        b = blocks[0]
        links = [urljoin(url, h) for h in sel.css(f"{b.selector} {b.link.split('::')[0]}::attr(href)").getall()]
        pattern = _common_pattern(links)
        out.source = {"id": _slug(url), "kind": "listing", "url": url,
                      "listing": {"item": b.selector, "link": b.link, "title": b.title, "date": b.date},
                      "follow": True}
        if pattern:
            out.source["link_pattern"] = pattern
            out.lines.append(f"the item links share link_pattern {pattern!r}")
    elif kind == "article":
        out.lines.append("an article page: newswatch reads JSON-LD, OpenGraph and <time> first; configure "
                         "article.title/date/body only where these are missing or wrong")
    else:
        out.lines.append("no repeated blocks with links and no article metadata: is the content built by "
                         "JavaScript? Look for a JSON endpoint or a sitemap")
    return out


def _common_pattern(urls: list[str]) -> Optional[str]:
    """A regular expression most of the URLs' paths match: the shared leading path and a
    slug (``/ru/events/[^/?#]+$``), when at least 60% share it."""
    paths = [urlsplit(u).path for u in urls if u]
    if len(paths) < 2:
        return None
    heads: dict[str, int] = {}
    for p in paths:
        head = p.rsplit("/", 1)[0] + "/" if "/" in p.strip("/") else "/"
        heads[head] = heads.get(head, 0) + 1
    head, n = max(heads.items(), key=lambda kv: kv[1])
    if n < 0.6 * len(paths) or head == "/":
        return None
    return re.escape(head).replace("\\/", "/").replace("\\-", "-") + "[^/?#]+$"


def _slug(url: str) -> str:
    host = urlsplit(url).netloc.split(":")[0]
    parts = [p for p in host.split(".") if p not in ("www", "eng", "en")]
    return (parts[0] if parts else "source").lower()


def _yaml(data: dict[str, Any]) -> str:
    import io

    from ruamel.yaml import YAML

    out = io.StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.dump([data], out)
    return out.getvalue()
