"""One Scrapy spider that reads many sources at once (one crawler, not one per source:
a crawler costs ~15 ms to build, which dominated crawls of hundreds of feeds).

Each source is a SourceRun. Every request a run makes is counted; when a run has no
request left, the spider emits SourceDone after the run's items, so the pipeline stores
them and then the source's result is recorded. The items of one callback travel as one
ItemBatch, which spares Scrapy's per-item machinery.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable, Optional

import scrapy
from scrapy.http import Request

from spiders.items import NewsItem
from spiders.source_run import SourceRun
from spiders.sources import CrawlSettings, Source
from spiders.store import CrawlRun

log = logging.getLogger("newswatch.crawl")


@dataclass
class ItemBatch:
    source_id: str
    items: list = field(default_factory=list)


@dataclass
class SourceDone:
    source_id: str


class NewsSpider(scrapy.Spider):
    name = "newswatch"

    def __init__(self, sources: Iterable[Source], crawl_settings: CrawlSettings, store=None, verbose: bool = False,
                 on_result: Optional[Callable[[dict], None]] = None, **kw):
        super().__init__(**kw)
        self.store = store
        self.on_result = on_result
        self.runs = {s.id: SourceRun(s, crawl_settings, store, verbose) for s in sources}
        self.pending = {sid: 0 for sid in self.runs}
        self.done: set[str] = set()
        self.shared_filter = None

    async def start(self):
        shared = self.settings.getdict("NEWSWATCH_CYCLE_FILTER")
        if shared:   # several workers crawl this cycle: share a duplicate filter (scrapy-redis)
            from spiders.queue import CycleFilter

            self.shared_filter = CycleFilter(shared["redis_url"], shared["key"])
        for run in self.runs.values():
            for req in run.start_requests():
                yield self._track(run, req)

    def _track(self, run: SourceRun, req: Request) -> Request:
        # One pair of spider methods for every request (Scrapy inspects each distinct
        # callback's source once; a fresh closure per request would be inspected each time).
        self.pending[run.source.id] += 1
        meta = dict(req.meta, nw_callback=req.callback, nw_errback=req.errback)
        return req.replace(callback=self._on_response, errback=self._on_failure, meta=meta)

    def _on_response(self, response):
        return self._run_callback(response.meta, response.meta["nw_callback"], response)

    def _on_failure(self, failure):
        meta = failure.request.meta
        return self._run_callback(meta, meta["nw_errback"], failure)

    def _run_callback(self, meta: dict, fn, arg):
        run = self.runs[meta["source_id"]]
        items: list[NewsItem] = []
        try:
            for x in fn(arg) or ():
                if isinstance(x, Request):
                    if "article_of" in x.meta and self.shared_filter and not self.shared_filter.claim(x):
                        continue          # another worker fetches this article in this cycle
                    yield self._track(run, x)
                elif isinstance(x, NewsItem):
                    items.append(x)
        except Exception as exc:   # a parsing bug fails this source, never the crawl
            log.exception("source %s: %s", run.source.id, exc, extra={"source": run.source.id, "stage": "parse"})
            run.fail(f"internal error while reading the page: {type(exc).__name__}: {exc}")
        if items:
            yield ItemBatch(run.source.id, items)
        self.pending[run.source.id] -= 1
        if self.pending[run.source.id] == 0:
            yield SourceDone(run.source.id)

    def finish(self, source_id: str, reason: str = "finished") -> None:
        """Record the result of a source whose items are stored (called by the pipeline)."""
        if source_id in self.done:
            return
        self.done.add(source_id)
        run = self.runs[source_id]
        res = run.result
        res.pop("_empty_reason", None)
        if res["status"] is None:
            res["status"] = "failed"
            res["error"] = res["error"] or f"crawl ended ({reason}) before the source answered"
        if res["status"] == "ok":
            run.save_validators()          # only now: the items are stored
        res["duration"] = round(time.monotonic() - run.started, 3)
        if self.store is not None:
            self.store.record_crawl(CrawlRun(
                source_id=source_id, started_at=run.started_at, finished_at=datetime.now(timezone.utc),
                status=res["status"], http_status=res["http_status"], items_found=res["items_found"],
                items_new=res["items_new"], items_updated=res["items_updated"], duration=res["duration"],
                error=res["error"]))
        if self.on_result:
            self.on_result(res)

    def closed(self, reason: str) -> None:
        """Sources still open when the crawl stops (shutdown, time limit) are recorded too."""
        for source_id, run in self.runs.items():
            if source_id not in self.done:
                if run.result["status"] == "ok":
                    run.result["warnings"].append(f"crawl ended early: {reason}")
                self.finish(source_id, reason)
