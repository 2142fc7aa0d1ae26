"""Parent side of a crawl: start ``spiders.worker`` in a child process, feed it the job,
collect one result per source, and stop it when it runs past its time limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timezone
from typing import Callable, Iterable, Optional

from spiders.sources import CrawlSettings, Source
from spiders.store import CrawlRun, Store


def _die_with_parent() -> None:
    """Linux: the crawl child is killed if its parent dies (no orphan keeps writing)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_crawl(sources: Iterable[Source], crawl: CrawlSettings, storage_url: str,
              on_result: Optional[Callable[[dict], None]] = None, verbose: bool = False,
              time_limit: Optional[float] = None, scrapy_extra: Optional[dict] = None) -> list[dict]:
    """Crawl the sources in up to ``crawl.processes`` child processes (sources of one host
    stay together, so per-domain politeness holds); one result per source."""
    sources = list(sources)
    if not sources:
        return []
    limit = time_limit if time_limit is not None else crawl.time_limit.total_seconds()
    groups = split_by_host(sources, min(crawl.processes, max(1, len(sources) // MIN_SOURCES_PER_PROCESS)))
    lock = threading.Lock()
    results: list[dict] = []

    def collect(res: dict) -> None:
        with lock:
            results.append(res)
            if on_result:
                on_result(res)

    threads = [threading.Thread(target=_run_child, args=(g, crawl, storage_url, collect, verbose, limit, scrapy_extra),
                                daemon=True) for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


MIN_SOURCES_PER_PROCESS = 8    # below this, a second Scrapy start-up costs more than it saves


def split_by_host(sources: list[Source], n: int) -> list[list[Source]]:
    if n <= 1:
        return [sources]
    by_host: dict[str, list[Source]] = {}
    for s in sources:
        by_host.setdefault(s.host, []).append(s)
    groups: list[list[Source]] = [[] for _ in range(n)]
    for members in sorted(by_host.values(), key=len, reverse=True):
        min(groups, key=len).extend(members)
    return [g for g in groups if g]


def _run_child(sources: list[Source], crawl: CrawlSettings, storage_url: str, collect: Callable[[dict], None],
               verbose: bool, limit: float, scrapy_extra: Optional[dict] = None) -> None:
    job = {"storage_url": storage_url, "crawl": crawl.model_dump(mode="json"),
           "sources": [s.model_dump(mode="json") for s in sources], "verbose": verbose,
           "scrapy": scrapy_extra or {}}
    started = datetime.now(timezone.utc)
    env = dict(os.environ)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "spiders.worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=None, text=True, encoding="utf-8", env=env,
                            preexec_fn=_die_with_parent)
    timer = threading.Timer(limit, proc.kill)
    timer.daemon = True
    timer.start()
    done: set[str] = set()
    try:
        proc.stdin.write(json.dumps(job))
        proc.stdin.close()
        for line in proc.stdout:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                res = json.loads(line)
            except json.JSONDecodeError:
                continue
            done.add(res["source_id"])
            collect(res)
        proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    missing = [s for s in sources if s.id not in done]
    if not missing:
        return
    why = (f"crawl stopped after the time limit of {limit:.0f}s" if proc.returncode and proc.returncode < 0
           else f"crawl process exited with code {proc.returncode} before finishing this source")
    store = Store(storage_url)
    try:
        for s in missing:
            now = datetime.now(timezone.utc)
            store.record_crawl(CrawlRun(source_id=s.id, started_at=started, finished_at=now, status="failed",
                                        duration=(now - started).total_seconds(), error=why))
            collect({"source_id": s.id, "status": "failed", "http_status": None, "items_found": 0,
                     "items_new": 0, "items_updated": 0, "error": why, "warnings": [],
                     "duration": (now - started).total_seconds()})
    finally:
        store.close()
