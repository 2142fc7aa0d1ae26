"""The item a spider yields, before and after it is stored."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional



def clean_text(text: Optional[str]) -> str:
    """Collapse whitespace; the store keeps plain text, never markup."""
    if not text:
        return ""
    return " ".join(text.split())


@dataclass
class NewsItem:
    source_id: str
    url: str                      # canonical URL
    title: str
    summary: str = ""
    body: str = ""
    guid: Optional[str] = None
    published: Optional[datetime] = None    # aware, UTC
    published_guessed: bool = False         # True when the page carried no date
    language: str = "en"
    first_seen: Optional[datetime] = None
    id: Optional[int] = None
    updated_at: Optional[datetime] = None
    extra: dict = field(default_factory=dict)

    def content_hash(self) -> str:
        """Hash of the words, not the markup: the same text under two URLs is one item."""
        text = " ".join(clean_text(x).lower() for x in (self.title, self.summary, self.body))
        return hashlib.sha1(text.encode("utf-8")).hexdigest()
