"""Finding the repeated blocks of a page that look like a list of articles: a title link,
often a date. Used to explain a broken listing ("the page now has 12 × article.event-tile")
and by ``newswatch probe`` to propose selectors.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from newswatch.spiders.dates import parse_date
from newswatch.spiders.htmltext import clean_text

_SKIP = {"script", "style", "noscript", "head", "svg", "template", "option", "select"}
_CLASS_OK = re.compile(r"^[A-Za-z_][\w-]*$")
_NAV = re.compile(r"(^|[-_ ])(nav|menu|footer|header|breadcrumb|lang|social|share|pager|pagination|tags?)([-_ ]|$)", re.I)
MIN_TITLE = 15


@dataclass
class Block:
    selector: str                  # CSS for one block, e.g. "li.news-card"
    count: int                     # how many the page has
    link: str                      # CSS for the title link inside, with ::attr(href)
    title: str                     # CSS for the title text
    date: Optional[str]            # CSS for a date inside, when one was seen
    sample_title: str
    sample_link: str
    score: float

    def describe(self) -> str:
        return f"{self.count} × {self.selector} (e.g. {self.sample_title[:60]!r} → {self.sample_link})"


def _sig(el: etree._Element) -> Optional[str]:
    tag = el.tag if isinstance(el.tag, str) else None
    if not tag or tag in _SKIP:
        return None
    classes = [c for c in (el.get("class") or "").split() if _CLASS_OK.match(c)]
    return tag + "".join("." + c for c in sorted(classes)[:2])


def _in_nav(el: etree._Element) -> bool:
    for anc in el.iterancestors():
        if anc.tag in ("nav", "footer", "header"):
            return True
        if _NAV.search(anc.get("class") or "") or _NAV.search(anc.get("id") or ""):
            return True
    return False


def _title_link(el: etree._Element) -> Optional[etree._Element]:
    best, best_len = None, 0
    for a in el.iter("a"):
        href = (a.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
            continue
        n = len(clean_text(a.text_content()))
        if n > best_len:
            best, best_len = a, n
    return best if best_len >= MIN_TITLE else None


def _inner_selector(a: etree._Element, block: etree._Element) -> str:
    sig = _sig(a) or "a"
    if "." in sig:
        return sig
    parent = a.getparent()
    if parent is not None and parent is not block:
        psig = _sig(parent)
        if psig:
            return f"{psig} a"
    return "a"


def _date_selector(block: etree._Element) -> Optional[str]:
    for el in block.iter():
        if not isinstance(el.tag, str):
            continue
        if el.tag == "time":
            if el.get("datetime"):
                return "time::attr(datetime)"
            if el.get("data-datetime"):
                return "time::attr(data-datetime)"
            return "time::text"
        if el.tag == "a" or len(el) > 2:
            continue
        text = clean_text(el.text_content())
        if 6 <= len(text) <= 40 and re.search(r"\d", text) and parse_date(text):
            sig = _sig(el)
            if sig and "." in sig:
                return sig + "::text"
    return None


def too_deep(html: str) -> bool:
    """Did the HTML parser give up on nesting (libxml2 stops at 256 levels)? Such a page is
    broken or hostile, not a changed layout."""
    parser = lxml.html.HTMLParser()
    try:
        lxml.html.fromstring(html, parser=parser)
    except (etree.ParserError, ValueError):
        return False
    return any("depth" in str(e.message).lower() for e in parser.error_log)


def repeated_blocks(html: str, base_url: str = "", limit: int = 5) -> list[Block]:
    """Candidate article blocks, best first."""
    try:
        root = lxml.html.fromstring(html)
    except (etree.ParserError, ValueError):
        return []
    groups: dict[str, list[etree._Element]] = defaultdict(list)
    for el in root.iter():
        sig = _sig(el)
        if sig and sig not in ("html", "body", "a") and el.find(".//a") is not None:
            groups[sig].append(el)
    site = urlsplit(base_url).netloc
    out: list[Block] = []
    for sig, els in groups.items():
        if len(els) < 2:
            continue
        links = [(el, _title_link(el)) for el in els]
        with_title = [(el, a) for el, a in links if a is not None]
        if len(with_title) < 2 or len(with_title) < 0.6 * len(els):
            continue
        if sum(_in_nav(el) for el, _ in with_title) > len(with_title) / 2:
            continue
        # a block that holds other candidate blocks (a list wrapper) counts once, not per child
        if any(len(el.findall(".//a")) > 12 for el, _ in with_title[:3]):
            continue
        el0, a0 = with_title[0]
        hrefs = {urljoin(base_url, a.get("href")) for _, a in with_title}
        same_site = sum(1 for h in hrefs if not site or urlsplit(h).netloc == site)
        date = _date_selector(el0)
        avg_title = sum(len(clean_text(a.text_content())) for _, a in with_title) / len(with_title)
        score = len(with_title) * (1.0 + min(avg_title, 120) / 60) * (1.5 if date else 1.0) \
            * (1.0 if same_site >= len(hrefs) / 2 else 0.5) * (1.3 if "." in sig else 0.7)
        link_sel = _inner_selector(a0, el0)
        out.append(Block(selector=sig, count=len(els), link=f"{link_sel}::attr(href)",
                         title=f"{link_sel}::text" if len(a0) == 0 else link_sel, date=date,
                         sample_title=clean_text(a0.text_content())[:120],
                         sample_link=urljoin(base_url, a0.get("href")), score=round(score, 2)))
    out.sort(key=lambda b: -b.score)
    # drop a candidate nested inside a better one with the same links (li inside ul.list)
    return out[:limit]
