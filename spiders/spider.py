"""One Scrapy spider that reads many sources at once (one crawler, not one per source: a
crawler costs ~15 ms to build, which dominated crawls of hundreds of feeds).

Each source is a ``SourceRun``; the spider only moves pages between Scrapy and the runs.
Every request carries one typed ``PageRequest`` in ``meta["nw"]``. When a source has no
request left, the spider yields ``SourceDone`` after its items; the pipeline stores what it
holds and signals ``source_stored``, and only then is the source's result recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Optional

import scrapy
from scrapy import signals
from scrapy.http import Request, Response

from newswatch.spiders.readers.base import Page, PageRequest
from newswatch.spiders.results import SourceResult
from newswatch.spiders.source_run import SourceRun
from newswatch.spiders.sources import CrawlSettings, Source
from newswatch.storage.crawl_repo import CrawlRepository
from newswatch.storage.rows import ItemRecord, UpsertOutcome, UpsertState

log = logging.getLogger("newswatch.crawl")
# Statuses the runs judge themselves; 3xx are left to Scrapy's redirect middleware.
HANDLED_STATUSES = [304] + list(range(400, 600))

# Sent by the pipeline: items of a batch were stored (outcomes), and a source's items are all in.
items_stored = object()
source_stored = object()


@dataclass
class ItemBatch:
    source_id: str
    records: list[ItemRecord]


@dataclass
class SourceDone:
    source_id: str


FRIENDLY = {
    "TimeoutError": "no answer within crawl.timeout",
    "DownloadTimeoutError": "no answer within crawl.timeout",
    "ConnectionRefusedError": "connection refused",
    "DNSLookupError": "host name not found",
    "ConnectionLost": "the connection was lost mid-answer",
    "ResponseNeverReceived": "the server closed the connection without answering",
    "DownloadCancelledError": "download cancelled: the answer is larger than crawl.max_response_size",
    "CancelledError": "download cancelled: the answer is larger than crawl.max_response_size",
    "IgnoreRequest": "refused",
}


def describe_failure(failure: Any) -> str:
    exc = failure.value
    name = type(exc).__name__
    text = failure.getErrorMessage() or ""
    if not text or text == name or text.startswith("<") or "Deferred" in text:
        text = FRIENDLY.get(name, name)
    elif name in FRIENDLY and name not in ("IgnoreRequest",):
        text = f"{FRIENDLY[name]} ({text[:300]})"
    return text if name == "IgnoreRequest" else f"{name}: {text}"


class NewsSpider(scrapy.Spider):
    name = "newswatch"

    def __init__(self, sources: Iterable[Source], crawl: CrawlSettings, repo: Optional[CrawlRepository] = None,
                 verbose: bool = False, on_result: Optional[Callable[[SourceResult], None]] = None, **kw: Any):
        super().__init__(**kw)
        sources = list(sources)
        self.repo = repo
        self.on_result = on_result
        validators = repo.validators(u for s in sources for u in s.configured_urls()) if repo else {}
        self.runs = {s.id: SourceRun(s, crawl, validators, verbose) for s in sources}
        self.outstanding = {sid: 0 for sid in self.runs}
        self.finished: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> NewsSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._stored, signal=items_stored)
        crawler.signals.connect(spider._source_stored, signal=source_stored)
        crawler.signals.connect(spider._closed, signal=signals.spider_closed)
        return spider

    async def start(self) -> Any:
        for run in self.runs.values():
            for req in run.start():
                yield self._request(run, req)

    # ---- requests and answers ------------------------------------------------------------
    def _request(self, run: SourceRun, req: PageRequest) -> Request:
        self.outstanding[run.source.id] += 1
        return Request(req.url, callback=self._on_response, errback=self._on_failure, dont_filter=True,
                       headers=run.conditional_headers(req) or None,
                       meta={"nw": (run.source.id, req), "handle_httpstatus_list": HANDLED_STATUSES,
                             "dont_obey_robotstxt": not run.source.obey_robots})

    def _on_response(self, response: Response) -> Iterator[Any]:
        sid, req = response.meta["nw"]
        run = self.runs[sid]
        headers = {k: response.headers.get(k, b"").decode("latin-1")
                   for k in ("Content-Type", "ETag", "Last-Modified") if response.headers.get(k)}
        page = Page(req, response.url, response.status, response.body, {k.lower(): v for k, v in headers.items()})
        yield from self._step(run, lambda: (run.on_article(page), []) if req.purpose == "article"
                              else run.on_page(page))

    def _on_failure(self, failure: Any) -> Iterator[Any]:
        sid, req = failure.request.meta["nw"]
        run = self.runs[sid]
        message = f"{failure.request.url}: {describe_failure(failure)}"
        yield from self._step(run, lambda: (run.on_article_error(req, message), []) if req.purpose == "article"
                              else ([], run.on_page_error(req, message)))

    def _step(self, run: SourceRun, work: Callable[[], tuple[list[ItemRecord], list[PageRequest]]]) -> Iterator[Any]:
        sid = run.source.id
        try:
            records, follow = work()
        except Exception as exc:   # a reader bug fails this source, never the crawl
            log.error("source %s: internal error while reading a page: %s: %s", sid, type(exc).__name__, exc,
                      exc_info=log.isEnabledFor(logging.DEBUG), extra={"source": sid, "stage": "parse"})
            run.fail(f"internal error while reading the page: {type(exc).__name__}: {exc}")
            records, follow = [], []
        for req in follow:
            yield self._request(run, req)
        if records:
            yield ItemBatch(sid, records)
        self.outstanding[sid] -= 1
        if self.outstanding[sid] == 0:
            yield SourceDone(sid)

    # ---- the end of a source -------------------------------------------------------------
    def _stored(self, outcomes: list[tuple[str, UpsertOutcome]], failed: set[str]) -> None:
        for sid, outcome in outcomes:
            run = self.runs.get(sid)
            if run is None:
                continue
            if outcome.state is UpsertState.NEW:
                run.result.items_new += 1
            elif outcome.state is UpsertState.UPDATED:
                run.result.items_updated += 1
        for sid in failed:
            if sid in self.runs:
                self.runs[sid].store_failed = True
                self.runs[sid].warn("some items could not be stored; the source is fetched whole next time")

    def _source_stored(self, source_id: str, reason: str = "finished") -> None:
        if source_id in self.finished or source_id not in self.runs:
            return
        self.finished.add(source_id)
        run = self.runs[source_id]
        result = run.finish(reason)
        if self.repo is not None:
            try:
                self.repo.save_validators(run.validators_to_save())
                self.repo.record_run(result.crawl_run())
            except Exception as exc:   # noqa: BLE001 - reported with the result, the crawl goes on
                result.warnings.append(f"could not record the crawl run: {exc}")
                log.error("source %s: could not record the crawl run: %s", source_id, exc,
                          extra={"source": source_id, "stage": "store"})
        if self.on_result:
            self.on_result(result)

    def _closed(self, spider: Any = None, reason: str = "finished") -> None:
        """Sources still open when the crawl stops (shutdown, time limit) are recorded too."""
        for source_id in list(self.runs):
            self._source_stored(source_id, reason)
