"""Parent side of a crawl: start crawl children (``newswatch.spiders.child``), hand each its
``CrawlJob``, collect one ``SourceResult`` per source, and stop a child that runs past the
time limit. Sources a child never reported on are recorded as failed, with the reason."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

from newswatch.spiders.job import CrawlJob
from newswatch.spiders.results import SourceResult
from newswatch.spiders.sources import CrawlSettings, Source

MIN_SOURCES_PER_PROCESS = 8    # below this, a second Scrapy start-up costs more than it saves


@dataclass(frozen=True)
class LogSettings:
    level: str = "WARNING"
    format: str = "text"


def _die_with_parent() -> None:
    """Linux: the crawl child is killed if its parent dies (no orphan keeps writing)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def split_by_host(sources: list[Source], n: int) -> list[list[Source]]:
    """Up to ``n`` groups; the sources of one host stay together, so per-domain politeness holds."""
    if n <= 1:
        return [sources]
    by_host: dict[str, list[Source]] = {}
    for s in sources:
        by_host.setdefault(s.host, []).append(s)
    groups: list[list[Source]] = [[] for _ in range(n)]
    for members in sorted(by_host.values(), key=len, reverse=True):
        min(groups, key=len).extend(members)
    return [g for g in groups if g]


def run_crawl(sources: Iterable[Source], crawl: CrawlSettings, storage_url: str,
              on_result: Optional[Callable[[SourceResult], None]] = None, verbose: bool = False,
              time_limit: Optional[float] = None, logs: LogSettings = LogSettings(),
              scrapy: Optional[dict] = None, cancel: Optional[threading.Event] = None) -> list[SourceResult]:
    """Crawl in up to ``crawl.processes`` children; one result per source. Setting ``cancel``
    stops the children (the service is shutting down): what they stored stays, and the
    sources they had not finished are not recorded as failed — they are crawled next time."""
    sources = list(sources)
    if not sources:
        return []
    lock = threading.Lock()
    results: list[SourceResult] = []

    def collect(res: SourceResult) -> None:
        with lock:
            results.append(res)
            if on_result:
                on_result(res)

    everything = list(sources)
    # feeds read from their own entries, and sources whose address answers 304, need no
    # crawl child at all
    for res in _without_child(sources, crawl, storage_url):
        collect(res)
    done = {r.source_id for r in results}
    sources = [s for s in sources if s.id not in done]
    if not sources:
        return results
    limit = time_limit if time_limit is not None else crawl.time_limit.total_seconds()
    groups = split_by_host(sources, min(crawl.processes, max(1, len(sources) // MIN_SOURCES_PER_PROCESS)))

    configured = sorted({u for s in everything for u in s.configured_urls()})
    jobs = [CrawlJob(storage_url, crawl, g, verbose, logs.level, logs.format, scrapy or {}, configured)
            for g in groups]
    threads = [threading.Thread(target=_run_child, args=(job, collect, limit, cancel), daemon=True) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _without_child(sources: list[Source], crawl: CrawlSettings, storage_url: str) -> list[SourceResult]:
    """Results of the sources read in this process: plain feeds (``spiders.direct``), then
    the others that answered 304 to one conditional request (``spiders.preflight``)."""
    from newswatch.spiders.direct import read_feeds
    from newswatch.spiders.preflight import preflight
    from newswatch.storage.crawl_repo import CrawlRepository
    from newswatch.storage.engine import Database
    from newswatch.storage.errors import StorageError

    try:
        db = Database(storage_url)
    except StorageError:
        return []                  # the crawl children report the database problem
    try:
        repo = CrawlRepository(db)
        read, rest = read_feeds(sources, crawl, repo)
        unchanged, _ = preflight(rest, crawl, repo)
        return read + unchanged
    except StorageError:
        return []
    finally:
        db.close()


def _run_child(job: CrawlJob, collect: Callable[[SourceResult], None], limit: float,
               cancel: Optional[threading.Event] = None) -> None:
    started = datetime.now(timezone.utc)
    proc = subprocess.Popen([sys.executable, "-m", "newswatch.spiders.child"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=None, text=True, encoding="utf-8",
                            preexec_fn=_die_with_parent)
    timer = threading.Timer(limit, proc.kill)
    timer.daemon = True
    timer.start()
    stopped = threading.Event()
    if cancel is not None:
        def watch() -> None:
            while proc.poll() is None:
                if cancel.wait(0.2):
                    stopped.set()
                    proc.terminate()            # Scrapy stops gracefully on SIGTERM
                    try:
                        proc.wait(3)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                    return

        threading.Thread(target=watch, daemon=True).start()
    done: set[str] = set()
    try:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(job.to_json())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        for line in proc.stdout:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                res = SourceResult.from_json(line)
            except (ValueError, KeyError, TypeError):
                continue
            done.add(res.source_id)
            collect(res)
        proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    missing = [s for s in job.sources if s.id not in done]
    if not missing or stopped.is_set():
        return
    why = (f"crawl stopped after the time limit of {limit:.0f}s (crawl.time_limit)"
           if proc.returncode is not None and proc.returncode < 0
           else f"the crawl process exited with code {proc.returncode} before finishing this source")
    failures = [SourceResult.failure(s.id, why, started_at=started) for s in missing]
    _record(job.storage_url, failures)
    for res in failures:
        collect(res)


def _record(storage_url: str, failures: list[SourceResult]) -> None:
    from newswatch.storage.crawl_repo import CrawlRepository
    from newswatch.storage.engine import Database
    from newswatch.storage.errors import StorageError

    try:
        db = Database(storage_url)
    except StorageError:
        return                     # the caller reports the results; the database problem shows elsewhere
    try:
        repo = CrawlRepository(db)
        for res in failures:
            repo.record_run(res.crawl_run())
    except StorageError:
        pass
    finally:
        db.close()
