"""One cycle of work, shared by ``crawl``, ``once`` and the scheduler: crawl → match → digest."""

from __future__ import annotations

import logging
import sys
import threading
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Optional

from alerts.delivery import make_transport
from alerts.dispatch import DispatchResult, dispatch
from alerts.health import check_sources, notify_operators
from alerts.matcher import Matcher
from alerts.matching import MatchStats, match_stored
from scheduler.config import Config
from spiders.runner import run_crawl
from spiders.sources import Source
from spiders.store import Store

log = logging.getLogger("newswatch")


def format_result(res: dict) -> str:
    status = res.get("status")
    if status == "ok":
        text = f"ok, {res['items_found']} items ({res['items_new']} new, {res['items_updated']} updated)"
    elif status == "not_modified":
        text = "not modified since last crawl (HTTP 304)"
    else:
        text = f"FAILED: {res.get('error')}"
    if res.get("used_fallback") and status == "ok":
        text += " via fallback"
    return f"{res['source_id']}: {text} in {float(res.get('duration') or 0):.1f}s"


def crawl_sources(cfg: Config, sources: Iterable[Source], progress: Optional[Callable[[str], None]] = None,
                  verbose: bool = False) -> list[dict]:
    sources = list(sources)
    total = len(sources)
    done = [0]

    def on_result(res: dict) -> None:
        done[0] += 1
        line = f"[{done[0]}/{total}] {format_result(res)}"
        for w in res.get("warnings") or []:
            line += f"\n        warning: {w}"
        if verbose:
            for r in res.get("selector_report") or []:
                line += f"\n        {r['what']}: {r['selector'] or '-'} → {r['found']!r}"
        if progress:
            progress(line)
        if res.get("status") == "failed":
            log.warning("source %s: crawl failed: %s", res["source_id"], res.get("error"),
                        extra={"source": res["source_id"], "stage": "crawl"})

    if cfg.settings.crawl.backend == "redis":
        from scheduler.distributed import remote_crawl

        return remote_crawl(cfg, sources, on_result)
    return run_crawl(sources, cfg.settings.crawl, cfg.storage_url, on_result=on_result, verbose=verbose)


def match_new(cfg: Config, store: Store, matcher: Optional[Matcher] = None) -> MatchStats:
    return match_stored(store, matcher or Matcher(cfg.rulebook))


def crawl_and_match(cfg: Config, store: Store, sources: Iterable[Source],
                    progress: Optional[Callable[[str], None]] = None, verbose: bool = False) -> tuple[list[dict], MatchStats]:
    """Crawl, and match what is stored while the crawl goes on: the crawl children and the
    matcher then use the machine's cores side by side instead of one after the other."""
    matcher = Matcher(cfg.rulebook)
    total = MatchStats()
    finished = threading.Event()

    def add(stats: MatchStats) -> None:
        total.items += stats.items
        total.matched += stats.matched
        total.matches += stats.matches

    def keep_matching() -> None:
        while not finished.wait(MATCH_EVERY):
            add(match_stored(store, matcher))

    worker = threading.Thread(target=keep_matching, daemon=True)
    worker.start()
    try:
        results = crawl_sources(cfg, sources, progress, verbose)
    finally:
        finished.set()
        worker.join()
    add(match_stored(store, matcher))          # what arrived last
    return results, total


MATCH_EVERY = 0.5   # seconds between two matching passes during a crawl


def deliver(cfg: Config, store: Store, now: Optional[datetime] = None, only: Optional[str] = None,
            dry_run: bool = False, preview_dir: Optional[str] = None, force: bool = False,
            backoff: bool = False) -> list[DispatchResult]:
    s = cfg.settings
    transport = None if (dry_run or preview_dir) else make_transport(s.email, cfg.smtp_password)
    return dispatch(store, s.subscribers, cfg.topics, list(s.sources), s.email, transport, now=now, only=only,
                    dry_run=dry_run, preview_dir=preview_dir, force=force, backoff=backoff)


def format_dispatch(r: DispatchResult) -> str:
    if r.status == "sent":
        return f"{r.subscriber}: sent {r.items} item(s) → {r.where}"
    if r.status == "failed":
        return f"{r.subscriber}: NOT SENT ({r.items} item(s) kept for the next run): {r.error}"
    if r.status == "preview":
        return f"{r.subscriber}: preview of {r.items} item(s) → {r.where}"
    if r.status == "dry_run":
        return f"{r.subscriber}: would send {r.items} item(s)"
    if r.status == "backoff":
        return f"{r.subscriber}: waiting to retry ({r.error})"
    if r.status == "empty":
        return f"{r.subscriber}: nothing new"
    return f"{r.subscriber}: not due yet"


def check_health(cfg: Config, store: Store, now: Optional[datetime] = None) -> list:
    """Open/close source alerts and email the operators about changes."""
    s = cfg.settings
    now = now or datetime.now(timezone.utc)
    notices = check_sources(store, cfg.sources, s.health, now)
    if notices and s.operators:
        notify_operators(store, notices, s.operators, s.email, make_transport(s.email, cfg.smtp_password), now)
    return notices


def prune(cfg: Config, store: Store) -> int:
    days = cfg.settings.storage.retention_days
    if not days:
        return 0
    removed = store.prune(datetime.now(timezone.utc) - timedelta(days=days))
    if removed:
        log.info("retention: removed %d item(s) first seen more than %d days ago", removed, days)
    return removed


def once(cfg: Config, progress: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> tuple[list[dict], MatchStats, list[DispatchResult]]:
    store = Store(cfg.storage_url)
    try:
        results, stats = crawl_and_match(cfg, store, cfg.sources, progress)
        check_health(cfg, store)
        prune(cfg, store)
        sent = deliver(cfg, store)
    finally:
        store.close()
    return results, stats, sent
