"""Plain text out of HTML fragments (feed summaries and bodies carry markup)."""

from __future__ import annotations

import html
import re
from typing import Optional

# A tag: "<" and a name (or "/", "?"), then anything up to ">" outside quoted attribute
# values, never across another "<": so a text of many "<" and no ">" costs one pass, not
# one pass per "<", and an apostrophe inside a value ("alt='Lukashenko's visit'") does not
# pair with one far away; what is left looking like a tag goes to the parser
_TAG = re.compile(r"<[A-Za-z/?](?:\"[^\"<>]*\"|'[^'<>]*'|[^'\"<>])*>")
_TAG_START = re.compile(r"<[A-Za-z/?!]")
# What only a real HTML parser reads right: script and style bodies, comments, CDATA
_NEEDS_PARSER = re.compile(r"<(?:script|style|noscript|!)", re.I)


def clean_text(text: Optional[str]) -> str:
    """Collapse whitespace; the store keeps plain text, never markup."""
    if not text:
        return ""
    return " ".join(text.split())


def html_to_text(fragment: Optional[str]) -> str:
    """Plain text of an HTML fragment; scripts and styles are dropped, and text nodes are
    joined with spaces so "a</p><p>b" stays two words."""
    if not fragment:
        return ""
    if "<" not in fragment:
        # no markup: only character references to resolve, which needs no HTML parser
        return clean_text(html.unescape(fragment) if "&" in fragment else fragment)
    if not _NEEDS_PARSER.search(fragment):
        # most feed summaries are a few <p>, <a> and <img> tags: replacing each tag with a
        # space gives what the parser below gives, at a tenth of the cost (a quarter of
        # the per-item work outside feedparser); a "<" left that looks like a tag means a
        # broken fragment, which the parser settles
        stripped = _TAG.sub(" ", fragment)
        if not _TAG_START.search(stripped):
            return clean_text(html.unescape(stripped) if "&" in stripped else stripped)
    return parsed_text(fragment)


def parsed_text(fragment: str) -> str:
    """``html_to_text`` by lxml's HTML parser, for any fragment."""
    import lxml.html  # here, not at the top: a cycle of 304s reads no HTML
    from lxml import etree

    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return clean_text(lxml.html.document_fromstring(f"<div>{fragment}</div>").text_content()) \
            if fragment.strip() else ""
    for bad in root.xpath(".//script | .//style | .//noscript"):
        bad.drop_tree()
    return clean_text(" ".join(root.itertext()))
