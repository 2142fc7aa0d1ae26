"""Item pipeline: items are stored (or updated) in batches and counted per source.

Batching turns a transaction per item into one per hundred; a batch is written when it is
full, when it has waited a second, when a source is done (before its result is recorded)
and when the spider closes. A crawl killed with a batch in hand loses nothing: a feed's
validators are saved only after its items, so the next crawl fetches it again.
"""

from __future__ import annotations

import logging
import time

from spiders.spider import ItemBatch, SourceDone

log = logging.getLogger("newswatch.store")
BATCH = 200
MAX_WAIT = 1.0


class StorePipeline:
    def __init__(self, crawler):
        self.crawler = crawler
        self.buffer: list = []
        self.first_at = 0.0

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item, spider=None):
        spider = self.crawler.spider
        if isinstance(item, SourceDone):
            self.flush()
            spider.finish(item.source_id)
            return item
        if not isinstance(item, ItemBatch):
            return item
        if not self.buffer:
            self.first_at = time.monotonic()
        self.buffer.extend(item.items)
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
            log.warning("batch store failed (%s); storing items one by one", exc)
            states = []
            for item in batch:
                try:
                    states.append(spider.store.upsert_item(item))
                except Exception as one:
                    log.error("source %s: could not store %s: %s", item.source_id, item.url, one,
                              extra={"source": item.source_id, "stage": "store"})
                    run = spider.runs[item.source_id]
                    run.result["warnings"].append(f"store error for {item.url}: {one}")
                    run.store_failed = True
                    states.append(("failed", None))
        for item, (state, item_id) in zip(batch, states):
            item.id = item_id
            result = spider.runs[item.source_id].result
            if state == "new":
                result["items_new"] += 1
            elif state == "updated":
                result["items_updated"] += 1
