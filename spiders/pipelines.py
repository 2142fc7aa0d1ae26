"""Item pipeline: every item a spider yields is stored (or updated) and counted."""

from __future__ import annotations

import logging

from spiders.items import NewsItem

log = logging.getLogger("newswatch.store")


class StorePipeline:
    """Upserts NewsItems into the spider's Store and counts new and updated items."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item, spider=None):
        spider = self.crawler.spider
        if not isinstance(item, NewsItem):
            return item
        try:
            state, item_id = spider.store.upsert_item(item)
        except Exception as exc:  # reported against the source, never raised into Scrapy
            log.error("source %s: could not store %s: %s", item.source_id, item.url, exc)
            spider.result["warnings"].append(f"store error for {item.url}: {exc}")
            return item
        item.id = item_id
        if state == "new":
            spider.result["items_new"] += 1
        elif state == "updated":
            spider.result["items_updated"] += 1
        return item
