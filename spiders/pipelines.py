"""Item pipeline: items are stored (or updated) in batches and counted per source.

Batching turns a transaction per item into one per hundred; a batch is written when it is
full, when it has waited a second, and when the spider closes. A crawl killed with a batch
in hand loses nothing: the feed's validators are saved only after its items (see
SourceSpider.validators), so the next crawl fetches it again.
"""

from __future__ import annotations

import logging
import time

from spiders.items import NewsItem

log = logging.getLogger("newswatch.store")
BATCH = 100
MAX_WAIT = 1.0


class StorePipeline:
    def __init__(self, crawler):
        self.crawler = crawler
        self.buffer: list[NewsItem] = []
        self.first_at = 0.0

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item, spider=None):
        if not isinstance(item, NewsItem):
            return item
        if not self.buffer:
            self.first_at = time.monotonic()
        self.buffer.append(item)
        if len(self.buffer) >= BATCH or time.monotonic() - self.first_at > MAX_WAIT:
            self.flush()
        return item

    def close_spider(self, spider=None):
        self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        spider = self.crawler.spider
        batch, self.buffer = self.buffer, []
        try:
            states = spider.store.upsert_items(batch)
        except Exception as exc:  # e.g. a locked database: retry one by one, report what fails
            log.warning("source %s: batch store failed (%s); storing items one by one", spider.source.id, exc)
            states = []
            for item in batch:
                try:
                    states.append(spider.store.upsert_item(item))
                except Exception as one:
                    log.error("source %s: could not store %s: %s", item.source_id, item.url, one,
                              extra={"source": item.source_id, "stage": "store"})
                    spider.result["warnings"].append(f"store error for {item.url}: {one}")
                    spider.store_failed = True
                    states.append(("failed", None))
        for item, (state, item_id) in zip(batch, states):
            item.id = item_id
            if state == "new":
                spider.result["items_new"] += 1
            elif state == "updated":
                spider.result["items_updated"] += 1
