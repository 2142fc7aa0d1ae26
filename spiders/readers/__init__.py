"""Readers, one per kind of page: ``feed``, ``listing``, ``sitemap``, ``json`` (and
``article`` for the pages entries link to). A kind is a small class behind the
``PageReader`` protocol; ``READERS`` maps each settings ``kind`` to its class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Union

from newswatch.spiders.readers.base import PageReader, ReaderContext
from newswatch.spiders.sources import Fallback, JsonRules, Source

Rules = Union[Source, Fallback]


# Each reader is imported when a source of its kind is read: a run of plain feeds does
# not load Scrapy's sitemap code, lxml selectors or trafilatura.
def _feed(ctx: ReaderContext, r: Rules) -> PageReader:
    from newswatch.spiders.readers.feed import FeedReader

    return FeedReader(ctx)


def _listing(ctx: ReaderContext, r: Rules) -> PageReader:
    from newswatch.spiders.readers.listing import ListingReader

    return ListingReader(ctx, r.listing)   # type: ignore[arg-type]


def _sitemap(ctx: ReaderContext, r: Rules) -> PageReader:
    from newswatch.spiders.readers.sitemap import SitemapReader

    return SitemapReader(ctx, r.sitemap)


def _json(ctx: ReaderContext, r: Rules) -> PageReader:
    from newswatch.spiders.readers.jsonapi import JsonReader

    return JsonReader(ctx, r.json_api or JsonRules())


READERS: dict[str, Callable[[ReaderContext, Rules], PageReader]] = {
    "feed": _feed, "listing": _listing, "sitemap": _sitemap, "json": _json,
}


def reader_for(ctx: ReaderContext, rules: Rules) -> PageReader:
    return READERS[rules.kind](ctx, rules)
