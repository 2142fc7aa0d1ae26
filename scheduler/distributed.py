"""`crawl.backend: redis`: the scheduler queues due sources in Redis and `newswatch worker`
processes crawl them into the shared store (see spiders.queue for the queue itself).

The scheduler stays one process: it queues, collects results, matches and delivers.
Workers only crawl; any number of them, on any machine that reaches Redis and the store.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import datetime, timezone
from typing import Callable, Iterable, Optional

from scheduler.config import Config
from spiders.queue import CrawlQueue
from spiders.runner import run_crawl
from spiders.sources import Source

log = logging.getLogger("newswatch.distributed")


def queue_for(cfg: Config) -> CrawlQueue:
    crawl = cfg.settings.crawl
    return CrawlQueue(crawl.redis_url, crawl.queue)


def cycle_id(now: Optional[datetime] = None) -> str:
    """Crawls queued in the same minute share one duplicate filter."""
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M")


def remote_crawl(cfg: Config, sources: Iterable[Source], on_result: Callable[[dict], None],
                 timeout: Optional[float] = None) -> list[dict]:
    """Queue the sources and wait for their results (dead workers' jobs are requeued)."""
    sources = list(sources)
    q = queue_for(cfg)
    q.enqueue(sources, cycle_id())
    wanted = {s.id for s in sources}
    results: list[dict] = []
    deadline = time.monotonic() + (timeout or cfg.settings.crawl.time_limit.total_seconds())
    warned = False
    while wanted and time.monotonic() < deadline:
        q.requeue_dead()
        for res in q.results():
            if res["source_id"] in wanted:
                wanted.discard(res["source_id"])
                results.append(res)
                on_result(res)
        if wanted and not q.workers() and not warned:
            log.warning("no newswatch worker is running: %d source(s) wait in the Redis queue", len(wanted))
            warned = True
        time.sleep(0.3)
    for sid in sorted(wanted):
        res = {"source_id": sid, "status": "failed", "http_status": None, "items_found": 0, "items_new": 0,
               "items_updated": 0, "warnings": [], "duration": 0.0,
               "error": "no worker finished this source in time (it stays queued for the next run)"}
        results.append(res)
        on_result(res)
    return results


def collect(cfg: Config, on_result: Callable[[dict], None]) -> int:
    """For the service: requeue dead workers' jobs and hand over finished results."""
    q = queue_for(cfg)
    q.requeue_dead()
    got = q.results()
    for res in got:
        on_result(res)
    return len(got)


def run_worker(cfg_loader: Callable[[], Config], max_jobs: Optional[int] = None) -> int:
    """`newswatch worker`: take batches of sources from the queue and crawl them."""
    cfg = cfg_loader()
    q = queue_for(cfg)
    worker = q.new_worker_id()
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            q.heartbeat(worker)
            stop.wait(HEARTBEAT_EVERY)

    def on_signal(signum, _frame) -> None:
        log.warning("worker %s: signal %s, finishing the current batch", worker, signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    q.heartbeat(worker)
    threading.Thread(target=beat, daemon=True).start()
    log.warning("worker %s: taking crawl jobs from %s (queue %s)", worker, cfg.settings.crawl.redis_url,
                cfg.settings.crawl.queue)
    done = 0
    try:
        while not stop.is_set() and (max_jobs is None or done < max_jobs):
            jobs = q.take(worker, cfg.settings.crawl.worker_batch, wait=1)
            if not jobs:
                continue
            by_id = {j["source"]["id"]: j for j in jobs}
            sources = [Source.model_validate(j["source"]) for j in jobs]
            crawl = cfg.settings.crawl
            shared = {"NEWSWATCH_CYCLE_FILTER": {"redis_url": crawl.redis_url,
                                                 "key": f"{crawl.queue}:dupefilter:{jobs[0]['cycle']}"}}

            def finished(res: dict) -> None:
                q.done(worker, by_id[res["source_id"]], res)
                log.info("worker %s: %s: %s", worker, res["source_id"], res["status"],
                         extra={"source": res["source_id"], "stage": "crawl"})

            run_crawl(sources, crawl, cfg.storage_url, on_result=finished, scrapy_extra=shared)
            done += len(jobs)
            cfg = cfg_loader()
    finally:
        stop.set()
        q.leave(worker)
    return 0


HEARTBEAT_EVERY = 3
