"""A crawl job: everything a crawl child process needs, passed on its stdin as JSON (no
environment variables, no module state)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from newswatch.spiders.sources import CrawlSettings, Source


@dataclass
class CrawlJob:
    storage_url: str
    crawl: CrawlSettings
    sources: list[Source]
    verbose: bool = False
    log_level: str = "WARNING"
    log_format: str = "text"
    scrapy: dict[str, Any] = field(default_factory=dict)     # extra Scrapy settings (tests, benchmarks)
    # every configured address of the run, not only this job's: a redirect to another
    # configured source's host is allowed whichever child reads it
    configured: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({
            "storage_url": self.storage_url, "crawl": self.crawl.model_dump(mode="json"),
            "sources": [s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in self.sources],
            "verbose": self.verbose, "log_level": self.log_level, "log_format": self.log_format,
            "scrapy": self.scrapy, "configured": self.configured,
        })

    @classmethod
    def from_json(cls, text: str) -> CrawlJob:
        data = json.loads(text)
        return cls(storage_url=data["storage_url"], crawl=CrawlSettings.model_validate(data["crawl"]),
                   sources=[Source.model_validate(s) for s in data["sources"]], verbose=bool(data.get("verbose")),
                   log_level=data.get("log_level", "WARNING"), log_format=data.get("log_format", "text"),
                   scrapy=data.get("scrapy") or {}, configured=list(data.get("configured") or []))
