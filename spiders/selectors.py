"""Reading fields out of HTML with the selectors operators write in settings.yaml.

A selector is Scrapy CSS (``h1``, ``a::attr(href)``, ``.date::text``) or ``xpath:...``.
A selector that names elements yields their whole text content (scripts and styles left
out); ``::text`` / ``::attr()`` / XPath strings yield those strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Optional

from parsel import Selector, SelectorList

from newswatch.spiders.htmltext import clean_text

_TEXT_XPATH = ".//text()[not(ancestor::script) and not(ancestor::style) and not(ancestor::noscript)]"


def select(sel: Selector, expr: str) -> SelectorList:
    expr = expr.strip()
    if expr.startswith("xpath:"):
        return sel.xpath(expr[len("xpath:"):].strip())
    return sel.css(expr)


def texts(result: Iterable[Selector]) -> list[str]:
    """The text of each selected node or string, whitespace collapsed, empties dropped."""
    out = []
    for node in result:
        root = node.root
        raw = root if isinstance(root, str) else " ".join(node.xpath(_TEXT_XPATH).getall())
        text = clean_text(raw)
        if text:
            out.append(text)
    return out


def first_text(sel: Selector, expr: Optional[str]) -> str:
    if not expr:
        return ""
    found = texts(select(sel, expr))
    return found[0] if found else ""


def all_texts(sel: Selector, expr: Optional[str]) -> list[str]:
    return texts(select(sel, expr)) if expr else []


def all_text(sel: Selector, expr: Optional[str], joiner: str = "\n") -> str:
    return joiner.join(all_texts(sel, expr))


def remove(sel: Selector, exprs: Iterable[str]) -> None:
    """Drop the nodes these selectors match (tag lists, share blocks) from the tree."""
    for expr in exprs:
        for node in select(sel, expr):
            if not isinstance(node.root, str):
                node.drop()
