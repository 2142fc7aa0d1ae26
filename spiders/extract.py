"""Reading fields out of HTML with the selectors operators write in settings.yaml.

A selector is Scrapy CSS (``h1``, ``a::attr(href)``, ``.date::text``) or ``xpath:...``.
A selector that names elements yields their whole text content (scripts and styles left
out); ``::text`` / ``::attr()`` / XPath strings yield those strings.
"""

from __future__ import annotations

from typing import Optional

import lxml.html
from lxml import etree
from parsel import Selector, SelectorList

from spiders.items import clean_text

_TEXT_XPATH = ".//text()[not(ancestor::script) and not(ancestor::style) and not(ancestor::noscript)]"


def select(sel: Selector, expr: str) -> SelectorList:
    expr = expr.strip()
    if expr.startswith("xpath:"):
        return sel.xpath(expr[len("xpath:"):].strip())
    return sel.css(expr)


def _texts(result: SelectorList) -> list[str]:
    out = []
    for node in result:
        root = node.root
        if isinstance(root, str):
            out.append(root)
        else:
            out.append(" ".join(node.xpath(_TEXT_XPATH).getall()))
    return [clean_text(t) for t in out if clean_text(t)]


def first_text(sel: Selector, expr: Optional[str]) -> str:
    if not expr:
        return ""
    texts = _texts(select(sel, expr))
    return texts[0] if texts else ""


def all_text(sel: Selector, expr: Optional[str], joiner: str = "\n") -> str:
    if not expr:
        return ""
    return joiner.join(_texts(select(sel, expr)))


def html_to_text(fragment: Optional[str]) -> str:
    """Plain text of an HTML fragment (feed summaries carry markup); scripts and styles
    are dropped, and text nodes are joined with spaces so "a</p><p>b" stays two words."""
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:
        return clean_text(fragment)
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        sel = Selector(text=f"<div>{fragment}</div>")
        return clean_text(" ".join(sel.xpath("//div[1]" + _TEXT_XPATH[1:]).getall()))
    for bad in root.xpath(".//script | .//style | .//noscript"):
        bad.drop_tree()
    return clean_text(" ".join(root.itertext()))


def main_text(html: str) -> tuple[str, str, str]:
    """(title, date, body) by a main-text extractor, for articles without selectors."""
    try:
        import trafilatura
    except ImportError:  # pragma: no cover - trafilatura is a dependency
        trafilatura = None
    if trafilatura is not None:
        doc = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False,
                                          include_tables=False, favor_precision=True)
        if doc:
            get = doc.get if isinstance(doc, dict) else (lambda k, d=None: getattr(doc, k, d))
            return clean_text(get("title") or ""), clean_text(get("date") or ""), clean_text(get("text") or "")
    sel = Selector(text=html)
    return first_text(sel, "h1"), first_text(sel, "time::attr(datetime)"), all_text(sel, "article p, main p")
