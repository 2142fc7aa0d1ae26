"""``crawl.backend: celery``: the scheduler side of distributed crawling (the worker side is
``spiders.tasks``). Due sources are split into batches (the sources of one host stay
together, so per-domain politeness holds), sent to the broker, and their results collected.
A broker that cannot be reached is retried with backoff and reported once, without a
traceback; sources whose batch did not come back in time are reported failed for this run
(their batch stays queued and is crawled when a worker is back)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from newswatch.scheduler.runtime import Runtime
from newswatch.spiders.job import CrawlJob
from newswatch.spiders.results import SourceResult
from newswatch.spiders.runner import split_by_host
from newswatch.spiders.sources import Source
from newswatch.spiders.tasks import TASK, make_app
from newswatch.storage.engine import redact

log = logging.getLogger("newswatch.distributed")
BATCH = 10               # sources per task
CONNECT_TRIES = (1, 2, 4, 8)


class BrokerUnavailable(Exception):
    pass


def remote_crawl(rt: Runtime, sources: Iterable[Source], on_result: Callable[[SourceResult], None]) -> list[SourceResult]:
    crawl = rt.cfg.settings.crawl
    sources = list(sources)
    if not sources:
        return []
    app = make_app(crawl.broker_url, crawl.queue)
    groups = split_by_host(sources, max(1, (len(sources) + BATCH - 1) // BATCH))
    pending = []
    results: list[SourceResult] = []
    for attempt, wait in enumerate((0,) + CONNECT_TRIES):
        time.sleep(wait)
        try:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1)
                for group in groups[len(pending):]:
                    job = CrawlJob(rt.cfg.storage_url, crawl, group, False, rt.logs.level, rt.logs.format,
                                   configured=sorted({u for s in sources for u in s.configured_urls()}))
                    pending.append((group, app.send_task(TASK, args=[job.to_json()], queue=crawl.queue,
                                                         connection=conn)))
            break
        except Exception as exc:   # noqa: BLE001 - kombu raises many kinds; all mean "not reachable"
            if attempt == len(CONNECT_TRIES):
                why = (f"cannot reach the Celery broker at {redact(crawl.broker_url)} ({type(exc).__name__}: {exc}); "
                       f"start it, or set crawl.backend: local")
                log.error(why)
                for res in (SourceResult.failure(s.id, why) for g in groups[len(pending):] for s in g):
                    results.append(res)
                    on_result(res)
                break
            if attempt == 0:
                log.warning("the Celery broker at %s does not answer (%s); retrying", redact(crawl.broker_url), exc)
    deadline = time.monotonic() + crawl.time_limit.total_seconds() + 60
    for group, async_result in pending:
        try:
            texts = async_result.get(timeout=max(1.0, deadline - time.monotonic()), propagate=True)
        except Exception as exc:   # noqa: BLE001 - a timeout or a lost worker: reported per source
            why = (f"no worker finished this source in time ({type(exc).__name__}); it stays queued and is crawled "
                   f"when a worker takes it")
            for s in group:
                res = SourceResult.failure(s.id, why)
                results.append(res)
                on_result(res)
            continue
        for text in texts:
            res = SourceResult.from_json(text)
            results.append(res)
            on_result(res)
    return results
