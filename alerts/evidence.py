"""Why an item matched a topic: the deciding terms, where they are, and a snippet with the
terms marked. Stored with every match (as JSON), shown by ``match``, ``items``, the
digest and the web workbench.

One highlighter (``Snippet.segments``) splits a snippet into plain and marked parts;
renderers only choose the markup: HTML ``<mark>``, ``*text*`` for plain-text mail,
``[text]`` or ANSI colour for the terminal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Snippet:
    field: Optional[str]
    text: str
    highlights: tuple[tuple[int, int], ...] = ()
    before: bool = False          # text was cut before the window
    after: bool = False           # … and after it

    def segments(self) -> Iterator[tuple[str, bool]]:
        """(text, marked) parts in order; overlapping marks are merged, bad ones skipped."""
        pos = 0
        for start, end in sorted(self.highlights):
            if end <= pos or start >= len(self.text) or end > len(self.text):
                continue
            start = max(start, pos)
            if start > pos:
                yield self.text[pos:start], False
            yield self.text[start:end], True
            pos = end
        if pos < len(self.text):
            yield self.text[pos:], False

    def render(self, on: str, off: str, escape_text: Any = None) -> str:
        esc = escape_text or (lambda s: s)
        body = "".join(f"{on}{esc(t)}{off}" if marked else esc(t) for t, marked in self.segments())
        return ("…" if self.before else "") + body + ("…" if self.after else "")

    def html(self, inline_style: bool = True) -> Markup:
        # mail clients drop style sheets, so digests style each mark; the workbench's pages
        # style them from their sheet (their Content-Security-Policy refuses inline styles)
        mark = '<mark style="background:#fff3a3;padding:0 1px;">' if inline_style else "<mark>"
        return Markup(self.render(mark, "</mark>", lambda s: str(escape(s))))

    def plain(self) -> str:
        return self.render("*", "*")

    def terminal(self, color: bool) -> str:
        return self.render("\033[1;33m", "\033[0m") if color else self.render("[", "]")

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "text": self.text, "highlights": [list(h) for h in self.highlights],
                "before": self.before, "after": self.after}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Snippet:
        return cls(d.get("field"), d.get("text") or "", tuple(tuple(h) for h in d.get("highlights") or ()),
                   bool(d.get("before")), bool(d.get("after")))


@dataclass(frozen=True)
class HitView:
    """One deciding occurrence of a term."""

    term: str                 # as the operator wrote it
    group: str                # term-list name (or the inline terms joined)
    role: str                 # all | any
    field: str                # title | summary | body | text
    start: int
    end: int
    text: str                 # the words in the item

    def to_json(self) -> dict[str, Any]:
        return {"term": self.term, "group": self.group, "role": self.role, "field": self.field,
                "start": self.start, "end": self.end, "text": self.text}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> HitView:
        return cls(d.get("term", ""), d.get("group", ""), d.get("role", "all"), d.get("field", "text"),
                   int(d.get("start", 0)), int(d.get("end", 0)), d.get("text", ""))


@dataclass(frozen=True)
class Evidence:
    topic: str
    score: float
    terms: tuple[str, ...]                    # every deciding term once, `all` groups first, relation too
    hits: tuple[HitView, ...]
    snippet: Snippet
    rules_version: str
    where: str = "item"                       # title | sentence | item: where the groups met
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "score": self.score, "terms": list(self.terms),
                "hits": [h.to_json() for h in self.hits], "snippet": self.snippet.to_json(),
                "rules_version": self.rules_version, "where": self.where}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Evidence:
        terms = list(d.get("terms") or [])
        for t in d.get("context_terms") or []:         # evidence stored by newswatch 0.1
            if t not in terms:
                terms.append(t)
        return cls(topic=d.get("topic", ""), score=float(d.get("score", 0.0)), terms=tuple(terms),
                   hits=tuple(HitView.from_json(h) for h in d.get("hits") or ()),
                   snippet=Snippet.from_json(d.get("snippet") or {}), rules_version=d.get("rules_version", ""),
                   where=d.get("where", "item"))
