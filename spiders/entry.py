"""An entry: one article as a reader found it (in a feed, on a listing page, in a sitemap
or a JSON answer), before it is followed and stored."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Optional


@dataclass(frozen=True)
class Entry:
    link: str                                  # absolute URL as found
    title: str = ""
    summary: str = ""
    body: str = ""
    guid: Optional[str] = None
    published: Optional[datetime] = None       # aware UTC
    date_text: str = ""                        # the date as printed, when read from text
    categories: tuple[str, ...] = ()
    # how each field was obtained ("feed", "selector h1", "json-ld", "opengraph", …): shown by
    # `crawl --verbose`, so an operator can see what to fix
    methods: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def with_fields(self, **changes: object) -> Entry:
        return replace(self, **changes)  # type: ignore[arg-type]
