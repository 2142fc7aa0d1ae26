"""Typed configuration of the crawl layer: what a source is and how to read it.

Built by ``scheduler.config`` from settings.yaml, or directly by tests. Every key is
described in docs/settings.md.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Literal, Optional
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import re2
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from newswatch.spiders.durations import Duration, PositiveDuration
from newswatch.spiders.urlpolicy import static_refusal

SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
Kind = Literal["feed", "listing", "sitemap", "json"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def check_pattern(value: str) -> str:
    """A URL pattern is an RE2 regular expression (linear time: a hostile page cannot make it
    backtrack for ever)."""
    options = re2.Options()
    options.log_errors = False          # the message goes to the operator, not to stderr
    try:
        re2.compile(value, options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise ValueError(f"bad regular expression {value!r}: {detail}") from None
    return value


def check_url(value: str) -> str:
    value = value.strip()
    if not re.match(r"^https?://[^/\s]+", value, re.I):
        raise ValueError(f"{value!r} is not an http(s) URL")
    why = static_refusal(value)
    if why:
        raise ValueError(why)
    return value


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Minsk") from None
    return value


class ListingRules(_Strict):
    """CSS (with ``::text`` / ``::attr(x)``) or ``xpath:`` selectors for an HTML listing page."""

    item: str
    link: str = "a::attr(href)"
    title: str = "a::text"
    date: Optional[str] = None
    summary: Optional[str] = None
    next: Optional[str] = None
    max_pages: int = Field(default=1, ge=1, le=100)


class SitemapRules(_Strict):
    """An XML sitemap or sitemap index: the newest article URLs by ``lastmod``."""

    max_age: PositiveDuration = timedelta(days=7)
    max_urls: int = Field(default=50, ge=1, le=5000)


class TokenRules(_Strict):
    """A token read from an HTML page and sent as a query parameter of the JSON request."""

    page: str
    selector: str
    param: str

    _page = field_validator("page")(classmethod(lambda cls, v: check_url(v)))


class JsonRules(_Strict):
    """A JSON listing endpoint; paths are dotted keys into the answer (``news``, ``data.items``)."""

    items: str = ""
    link: str = "url"
    title: str = "title"
    date: Optional[str] = None
    summary: Optional[str] = None
    token: Optional[TokenRules] = None
    page_param: Optional[str] = None
    max_pages: int = Field(default=1, ge=1, le=100)


class ArticleRules(_Strict):
    """How an article page is read. Metadata (JSON-LD, OpenGraph, ``<time>``) comes first;
    these selectors override it; a main-text extractor fills what is still missing."""

    title: Optional[str] = None
    date: Optional[str] = None
    body: Optional[str] = None
    remove: list[str] = Field(default_factory=list)
    strip_prefix: Optional[str] = None
    date_zone: Optional[str] = None

    _zone = field_validator("date_zone")(classmethod(lambda cls, v: v if v is None else check_timezone(v)))


class Filters(_Strict):
    urls: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)

    _urls = field_validator("urls")(classmethod(lambda cls, v: [check_pattern(p) for p in v]))


class Fallback(_Strict):
    """A second way to read a source, used when the primary URL fails or yields nothing."""

    kind: Kind
    url: str
    listing: Optional[ListingRules] = None
    sitemap: Optional[SitemapRules] = None
    json_api: Optional[JsonRules] = Field(default=None, alias="json")

    _url = field_validator("url")(classmethod(lambda cls, v: check_url(v)))

    @model_validator(mode="after")
    def _rules_for_kind(self) -> Fallback:
        _needs_rules(self.kind, self.listing)
        return self


def _needs_rules(kind: str, listing: Optional[ListingRules]) -> None:
    if kind == "listing" and listing is None:
        raise ValueError("kind 'listing' needs a 'listing' block with at least 'item'")


class Source(_Strict):
    id: str
    name: Optional[str] = None
    kind: Kind
    url: str
    language: str = "en"
    interval: Optional[PositiveDuration] = None
    timezone: str = "UTC"
    enabled: bool = True
    obey_robots: bool = True
    quiet_after: Optional[PositiveDuration] = None   # alert operators when no new item for this long
    verify_tls: Optional[bool] = None                # None: crawl.verify_tls
    link_pattern: Optional[str] = None
    include: Optional[Filters] = None
    exclude: Optional[Filters] = None
    follow: Optional[bool] = None                    # None: follow when `article` is set, or an entry has no text
    listing: Optional[ListingRules] = None
    sitemap: Optional[SitemapRules] = None
    json_api: Optional[JsonRules] = Field(default=None, alias="json")
    article: Optional[ArticleRules] = None
    fallback: Optional[Fallback] = None

    @field_validator("id")
    @classmethod
    def _id_shape(cls, v: str) -> str:
        if not SOURCE_ID.match(v):
            raise ValueError("a source id uses only a-z, 0-9 and '-' (e.g. belta-en)")
        return v

    _url = field_validator("url")(classmethod(lambda cls, v: check_url(v)))
    _tz = field_validator("timezone")(classmethod(lambda cls, v: check_timezone(v)))
    _pattern = field_validator("link_pattern")(classmethod(lambda cls, v: v if v is None else check_pattern(v)))

    @model_validator(mode="after")
    def _rules_for_kind(self) -> Source:
        _needs_rules(self.kind, self.listing)
        return self

    @property
    def label(self) -> str:
        return self.name or self.id

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()

    def configured_urls(self) -> list[str]:
        """Every URL the operator wrote for this source: the places it may fetch even when
        they are on a private network."""
        urls = [self.url]
        if self.fallback:
            urls.append(self.fallback.url)
        for rules in (self.json_api, self.fallback.json_api if self.fallback else None):
            if rules and rules.token:
                urls.append(rules.token.page)
        return urls


class CrawlSettings(_Strict):
    user_agent: str = "newswatch/0.2 (+https://github.com/newswatch)"
    interval: PositiveDuration = timedelta(minutes=15)
    timeout: PositiveDuration = timedelta(seconds=30)
    concurrency_per_domain: int = Field(default=2, ge=1, le=32)
    concurrency: int = Field(default=16, ge=1, le=256)
    delay: Duration = timedelta(seconds=0.5)
    autothrottle: bool = True
    max_response_size: int = Field(default=20 * 1024 * 1024, ge=1024)
    retries: int = Field(default=2, ge=0, le=10)
    max_retry_wait: PositiveDuration = timedelta(minutes=2)
    max_redirects: int = Field(default=5, ge=0, le=20)
    article_limit: int = Field(default=30, ge=0, le=100000)
    max_items_per_source: int = Field(default=500, ge=1, le=100000)
    verify_tls: bool = True
    allow_private: bool = False
    processes: int = Field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)), ge=1, le=64)
    time_limit: PositiveDuration = timedelta(minutes=10)
    backend: Literal["local", "celery"] = "local"
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    queue: str = Field(default="newswatch", pattern=r"^[A-Za-z0-9_.-]+$")
