"""Plain text out of HTML fragments (feed summaries and bodies carry markup)."""

from __future__ import annotations

import html
from typing import Optional


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
