"""Readers, one per kind of page: ``feed``, ``listing``, ``sitemap``, ``json`` (and
``article`` for the pages entries link to). A kind is a small class behind the
``PageReader`` protocol; ``READERS`` maps each settings ``kind`` to its class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Union

from newswatch.spiders.readers.base import PageReader, ReaderContext
from newswatch.spiders.readers.feed import FeedReader
from newswatch.spiders.readers.jsonapi import JsonReader
from newswatch.spiders.readers.listing import ListingReader
from newswatch.spiders.readers.sitemap import SitemapReader
from newswatch.spiders.sources import Fallback, JsonRules, Source

Rules = Union[Source, Fallback]

READERS: dict[str, Callable[[ReaderContext, Rules], PageReader]] = {
    "feed": lambda ctx, r: FeedReader(ctx),
    "listing": lambda ctx, r: ListingReader(ctx, r.listing),   # type: ignore[arg-type]
    "sitemap": lambda ctx, r: SitemapReader(ctx, r.sitemap),
    "json": lambda ctx, r: JsonReader(ctx, r.json_api or JsonRules()),
}


def reader_for(ctx: ReaderContext, rules: Rules) -> PageReader:
    return READERS[rules.kind](ctx, rules)
