"""Typed configuration of the crawl layer: what a source is and how to read it.

These objects are built by ``scheduler.config`` from settings.yaml, or directly by tests.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Literal, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from spiders.durations import Duration

SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListingRules(_Strict):
    """CSS (with ``::text`` / ``::attr(x)``) or ``xpath:`` selectors for an HTML listing page."""

    item: str
    link: str = "a::attr(href)"
    title: str = "a::text"
    date: Optional[str] = None
    summary: Optional[str] = None
    next: Optional[str] = None
    max_pages: int = Field(default=1, ge=1, le=100)


class ArticleRules(_Strict):
    """Selectors for an article page; a missing selector falls back to the main-text extractor."""

    title: Optional[str] = None
    date: Optional[str] = None
    body: Optional[str] = None
    strip_prefix: Optional[str] = None


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Minsk")
    return value


class Fallback(_Strict):
    """A second way to read a source, used when the primary URL fails or yields nothing."""

    kind: Literal["feed", "listing"]
    url: str
    listing: Optional[ListingRules] = None

    @model_validator(mode="after")
    def _listing_needs_rules(self) -> "Fallback":
        if self.kind == "listing" and self.listing is None:
            raise ValueError("a listing fallback needs a 'listing' block with at least 'item'")
        return self


class Source(_Strict):
    id: str
    name: Optional[str] = None
    kind: Literal["feed", "listing"]
    url: str
    language: str = "en"
    interval: Optional[Duration] = None
    timezone: str = "UTC"
    enabled: bool = True
    obey_robots: bool = True
    quiet_after: Optional[Duration] = None     # alert operators when no new item for this long
    verify_tls: Optional[bool] = None          # None: crawl.verify_tls
    listing: Optional[ListingRules] = None
    article: Optional[ArticleRules] = None
    fallback: Optional[Fallback] = None

    @field_validator("id")
    @classmethod
    def _id_shape(cls, v: str) -> str:
        if not SOURCE_ID.match(v):
            raise ValueError("a source id uses only a-z, 0-9 and '-' (e.g. belta-en)")
        return v

    @field_validator("url")
    @classmethod
    def _url_shape(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return _check_timezone(v)

    @model_validator(mode="after")
    def _listing_needs_rules(self) -> "Source":
        if self.kind == "listing" and self.listing is None:
            raise ValueError("a source of kind 'listing' needs a 'listing' block with at least 'item'")
        return self

    @property
    def label(self) -> str:
        return self.name or self.id

    @property
    def host(self) -> str:
        return re.sub(r"^https?://([^/:]+).*$", r"\1", self.url).lower()


class CrawlSettings(_Strict):
    user_agent: str = "newswatch/0.1 (+https://github.com/newswatch)"
    interval: Duration = timedelta(minutes=15)
    timeout: Duration = timedelta(seconds=30)
    concurrency_per_domain: int = Field(default=2, ge=1, le=32)
    delay: Duration = timedelta(seconds=0.5)
    autothrottle: bool = True
    max_response_size: int = Field(default=20 * 1024 * 1024, ge=1024)
    retries: int = Field(default=2, ge=0, le=10)
    max_redirects: int = Field(default=5, ge=0, le=20)
    article_limit: int = Field(default=30, ge=0, le=100000)
    max_items_per_source: int = Field(default=500, ge=1, le=100000)
    verify_tls: bool = True
    processes: int = Field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)), ge=1, le=64)
    backend: Literal["local", "redis"] = "local"
    redis_url: str = "redis://127.0.0.1:6379/0"
    queue: str = Field(default="newswatch", pattern=r"^[A-Za-z0-9_.-]+$")
    worker_batch: int = Field(default=20, ge=1, le=1000)
    time_limit: Duration = timedelta(minutes=10)
