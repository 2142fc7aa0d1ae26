"""What an article page says about itself in machine-readable form: JSON-LD
(``headline``, ``datePublished``), OpenGraph and ``article:published_time``, and
``<time datetime>`` / ``<time data-datetime>``. Read before any selector, because sites
change their layout far more often than their metadata.

Three lookups, written here: extruct would bring RDFa and microformat parsers (rdflib)
for fields newswatch never reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

from parsel import Selector

from newswatch.spiders.htmltext import clean_text

ARTICLE_TYPES = {"newsarticle", "article", "reportagenewsarticle", "blogposting", "analysisnewsarticle",
                 "opinionnewsarticle", "report", "webpage", "backgroundnewsarticle", "liveblogposting"}


@dataclass
class Metadata:
    title: Optional[str] = None
    published: Optional[str] = None        # the raw timestamp text
    description: Optional[str] = None
    methods: dict[str, str] = field(default_factory=dict)


def _jsonld_objects(sel: Selector) -> Iterator[dict[str, Any]]:
    for raw in sel.css('script[type="application/ld+json"]::text').getall():
        try:
            data = json.loads(raw.strip().rstrip(";"))
        except ValueError:
            continue
        stack = [data]
        while stack:
            obj = stack.pop(0)
            if isinstance(obj, list):
                stack.extend(obj)
            elif isinstance(obj, dict):
                yield obj
                if isinstance(obj.get("@graph"), list):
                    stack.extend(obj["@graph"])


def _types(obj: dict[str, Any]) -> set[str]:
    t = obj.get("@type")
    if isinstance(t, list):
        return {str(x).lower() for x in t}
    return {str(t).lower()} if t else set()


def read_metadata(sel: Selector) -> Metadata:
    meta = Metadata()
    for obj in _jsonld_objects(sel):
        if not (_types(obj) & ARTICLE_TYPES):
            continue
        if not meta.published and isinstance(obj.get("datePublished"), str):
            meta.published = obj["datePublished"].strip()
            meta.methods["date"] = "json-ld datePublished"
        headline = obj.get("headline") or (obj.get("name") if "webpage" not in _types(obj) else None)
        if not meta.title and isinstance(headline, str) and clean_text(headline):
            meta.title = clean_text(headline)
            meta.methods["title"] = "json-ld headline"
        if not meta.description and isinstance(obj.get("description"), str):
            meta.description = clean_text(obj["description"])
    for prop in ("article:published_time", "og:article:published_time", "datePublished", "pubdate"):
        if meta.published:
            break
        value = sel.css(f'meta[property="{prop}"]::attr(content), meta[name="{prop}"]::attr(content), '
                        f'meta[itemprop="{prop}"]::attr(content)').get()
        if value and value.strip():
            meta.published = value.strip()
            meta.methods["date"] = f"meta {prop}"
    if not meta.title:
        og = sel.css('meta[property="og:title"]::attr(content)').get()
        if og and clean_text(og):
            meta.title = clean_text(og)
            meta.methods["title"] = "opengraph og:title"
    if not meta.description:
        desc = sel.css('meta[property="og:description"]::attr(content), meta[name="description"]::attr(content)').get()
        if desc:
            meta.description = clean_text(desc)
    if not meta.published:
        # a <time> inside the article, not one in the page header
        for expr in ("article time::attr(datetime)", "article time::attr(data-datetime)",
                     "main time::attr(datetime)", "main time::attr(data-datetime)",
                     "time[itemprop=datePublished]::attr(datetime)", "time[data-datetime]::attr(data-datetime)",
                     "time[pubdate]::attr(datetime)"):
            value = sel.css(expr).get()
            if value and value.strip():
                meta.published = value.strip()
                meta.methods["date"] = f"<time> {expr.split('::')[0]}"
                break
    return meta
