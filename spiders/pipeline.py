"""The item pipeline: items are stored in batches, and the spider is told what happened
through Scrapy signals (``items_stored``, ``source_stored``) — the pipeline never reaches
into the spider.

A batch is written when it is full, when it has waited a second, when a source is done
(before its result is recorded) and when the spider closes. A crawl killed with a batch in
hand loses nothing: a source's validators are saved only after its items, so the next crawl
fetches it whole again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from newswatch.spiders.spider import ItemBatch, SourceDone, items_stored, source_stored
from newswatch.storage.crawl_repo import CrawlRepository
from newswatch.storage.rows import ItemRecord, UpsertOutcome

log = logging.getLogger("newswatch.store")
BATCH = 200
MAX_WAIT = 1.0


class StorePipeline:
    def __init__(self, crawler: Any):
        self.crawler = crawler
        self.buffer: list[ItemRecord] = []
        self.first_at = 0.0

    @classmethod
    def from_crawler(cls, crawler: Any) -> StorePipeline:
        return cls(crawler)

    @property
    def repo(self) -> CrawlRepository | None:
        return getattr(self.crawler.spider, "repo", None)

    def process_item(self, item: Any, spider: Any = None) -> Any:
        if isinstance(item, SourceDone):
            self.flush()
            self.crawler.signals.send_catch_log(source_stored, source_id=item.source_id)
            return item
        if not isinstance(item, ItemBatch):
            return item
        if not self.buffer:
            self.first_at = time.monotonic()
        self.buffer.extend(item.records)
        if len(self.buffer) >= BATCH or time.monotonic() - self.first_at > MAX_WAIT:
            self.flush()
        return item

    def close_spider(self, spider: Any = None) -> None:
        self.flush()

    def flush(self) -> None:
        if not self.buffer or self.repo is None:
            self.buffer = []
            return
        batch, self.buffer = self.buffer, []
        failed: set[str] = set()
        outcomes: list[tuple[str, UpsertOutcome]] = []
        try:
            results = self.repo.upsert_items(batch)
            outcomes = [(rec.source_id, out) for rec, out in zip(batch, results)]
        except Exception as exc:   # noqa: BLE001 - e.g. a locked database: one by one, report what fails
            log.warning("storing a batch of %d items failed (%s); storing them one by one", len(batch), exc)
            for rec in batch:
                try:
                    outcomes.append((rec.source_id, self.repo.upsert_items([rec])[0]))
                except Exception as one:   # noqa: BLE001 - the source is marked, its validators kept back
                    log.error("source %s: could not store %s: %s", rec.source_id, rec.url, one,
                              extra={"source": rec.source_id, "stage": "store"})
                    failed.add(rec.source_id)
        self.crawler.signals.send_catch_log(items_stored, outcomes=outcomes, failed=failed)
