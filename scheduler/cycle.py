"""One cycle of work — crawl, match, deliver — as steps shared by the CLI commands and the
service. Each step takes the process's ``Runtime``; none keeps state of its own."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

from newswatch.alerts.digest_plan import DigestContext, PlanState, build_digest, plan
from newswatch.alerts.digest_send import (
    DigestOutcome,
    DigestSender,
    DigestStatus,
    expire_dead_claims,
    replay_journal,
)
from newswatch.alerts.health import Notice, SourceHealth, check_sources, load_health, notify_operators
from newswatch.alerts.item_matching import MatchStats, match_stored_items
from newswatch.alerts.render import RenderCache, render_html
from newswatch.scheduler.links import digest_links
from newswatch.scheduler.runtime import Runtime
from newswatch.spiders.results import SourceResult
from newswatch.spiders.runner import run_crawl
from newswatch.spiders.sources import Source
from newswatch.storage import fulltext
from newswatch.storage.errors import StorageError

log = logging.getLogger("newswatch")
MATCH_EVERY = 0.5      # seconds between two matching passes while a crawl runs
Progress = Callable[[str], None]


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


# ---- crawl and match ----------------------------------------------------------------------
def crawl(rt: Runtime, sources: Iterable[Source], progress: Optional[Progress] = None,
          verbose: bool = False) -> list[SourceResult]:
    sources = list(sources)
    total = len(sources)
    done = [0]

    def on_result(res: SourceResult) -> None:
        done[0] += 1
        if progress:
            line = f"[{done[0]}/{total}] {res.summary()}"
            for w in res.warnings:
                line += f"\n        warning: {w}"
            if verbose:
                for f in res.findings:
                    line += f"\n        {f.what}: {f.how or '-'} → {f.found!r}"
            progress(line)
        if res.failed:
            log.warning("source %s: crawl failed: %s", res.source_id, res.error,
                        extra={"source": res.source_id, "stage": "crawl"})

    crawl_settings = rt.cfg.settings.crawl
    if crawl_settings.backend == "celery":
        from newswatch.scheduler.distributed import remote_crawl

        return remote_crawl(rt, sources, on_result)
    return run_crawl(sources, crawl_settings, rt.cfg.storage_url, on_result=on_result, verbose=verbose,
                     logs=rt.logs)


def match_new(rt: Runtime) -> MatchStats:
    """What follows every store of new items: the full-text index catches up with them (in
    one statement, see storage/fulltext.py), then they are matched."""
    fulltext.catch_up(rt.db)
    if not rt.alerts_repo.has_unmatched():
        return MatchStats()           # nothing new: the topics need not even be compiled
    return match_stored_items(rt.alerts_repo, rt.matcher)


def crawl_and_match(rt: Runtime, sources: Iterable[Source], progress: Optional[Progress] = None,
                    verbose: bool = False) -> tuple[list[SourceResult], MatchStats]:
    """Crawl, and match what is stored while the crawl goes on: the crawl children and the
    matcher then use the machine's cores side by side instead of one after the other."""
    total = MatchStats()
    finished = threading.Event()
    failure: list[BaseException] = []

    def keep_matching() -> None:
        try:
            while not finished.wait(MATCH_EVERY):
                total.add(match_new(rt))
        except StorageError as exc:            # reported after the crawl; the crawl goes on
            failure.append(exc)

    worker = threading.Thread(target=keep_matching, daemon=True)
    worker.start()
    try:
        results = crawl(rt, sources, progress, verbose)
    finally:
        finished.set()
        worker.join()
    if failure and not isinstance(failure[0], StorageError):
        raise failure[0]
    total.add(match_new(rt))          # what arrived last
    return results, total


# ---- health -------------------------------------------------------------------------------
def health(rt: Runtime, now: Optional[datetime] = None, days: int = 0, counts: bool = True) -> list[SourceHealth]:
    """Each source's health; ``counts=False`` (the cycle's own checks) skips counting its items."""
    s = rt.cfg.settings
    # enough history to count failures up to the alert threshold (it may be set above 100)
    history = max(100, s.health.alert_after_failures + 1)
    return load_health(rt.crawl_repo, s.sources, now or now_utc(), s.health.quiet_after, days, history=history,
                       counts=counts)


def check_health(rt: Runtime, now: Optional[datetime] = None) -> list[Notice]:
    """Open and close source alerts and email the operators about changes."""
    s = rt.cfg.settings
    now = now or now_utc()
    notices = check_sources(rt.alerts_repo, health(rt, now, counts=False), s.health, now)
    if notices and s.operators:
        notify_operators(rt.alerts_repo, notices, s.operators, s.email, rt.transport(), now)
    return notices


# ---- digests ------------------------------------------------------------------------------
def digest_context(rt: Runtime, now: datetime) -> DigestContext:
    s = rt.cfg.settings
    links = digest_links(rt.cfg)
    return DigestContext(
        topics=rt.cfg.topics, source_names={src.id: src.label for src in s.sources},
        health=[h for h in health(rt, now, counts=False) if h.enabled], max_per_topic=s.email.max_per_topic,
        links=links.feedback if links else None, missed_link=links.missed if links else None,
        more_link=links.more if links else None, manage_link=links.manage if links else None)


@dataclass
class DeliverOptions:
    only: Optional[str] = None
    force: bool = False
    dry_run: bool = False
    preview_dir: Optional[Path] = None
    backoff: bool = False          # the service backs off after failed sends; a CLI run always tries


def deliver(rt: Runtime, now: Optional[datetime] = None,
            options: DeliverOptions = DeliverOptions()) -> list[DigestOutcome]:
    """Plan the due digests, then preview, report or send them."""
    now = now or now_utc()
    repo = rt.alerts_repo
    with rt.mutex:
        if not (options.dry_run or options.preview_dir):
            replay_journal(repo, rt.journal)
            expire_dead_claims(repo, now)
        plans = plan(repo, rt.cfg.settings.subscribers, now, force=options.force or bool(options.preview_dir)
                     or options.dry_run, only=options.only, backoff=options.backoff)
        ctx: Optional[DigestContext] = None      # built once, and only when a digest is due
        sender = None
        out = []
        for p in plans:
            name = p.subscription.name
            if p.state is PlanState.NOT_DUE:
                out.append(DigestOutcome(name, DigestStatus.NOT_DUE, error=p.reason))
                continue
            if p.state is PlanState.BACKOFF:
                out.append(DigestOutcome(name, DigestStatus.BACKOFF, error=p.reason))
                continue
            if ctx is None:
                ctx = digest_context(rt, now)
            digest = build_digest(repo, p.subscription, ctx, now)
            if options.preview_dir is not None:
                options.preview_dir.mkdir(parents=True, exist_ok=True)
                path = options.preview_dir / f"{_file_name(name)}.html"
                path.write_text(render_html(digest), encoding="utf-8")
                out.append(DigestOutcome(name, DigestStatus.PREVIEW, digest.total, str(path)))
                continue
            if options.dry_run:
                out.append(DigestOutcome(name, DigestStatus.DRY_RUN, digest.total))
                continue
            if sender is None:
                sender = DigestSender(repo, rt.transport(), rt.cfg.settings.email, rt.journal, rt.lease,
                                      RenderCache())
            sub = p.subscription
            try:
                out.append(sender.send(p, digest, now,
                                       lambda ids, sub=sub, ctx=ctx: build_digest(repo, sub, ctx, now, ids)))
            except StorageError as exc:
                # this subscriber's claim could not be made: nothing was sent; the others go on
                log.error("digest for %s: %s", name, exc, extra={"subscriber": name})
                out.append(DigestOutcome(name, DigestStatus.FAILED, digest.total, error=str(exc)))
        return out


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80] or "subscriber"


# ---- housekeeping -------------------------------------------------------------------------
def prune(rt: Runtime, now: Optional[datetime] = None) -> int:
    """Retention: old crawl runs always (``run_history_days``), old items when
    ``retention_days`` is set. The number of items removed."""
    s = rt.cfg.settings.storage
    now = now or now_utc()
    rt.crawl_repo.prune_runs(now - timedelta(days=s.run_history_days))
    if not s.retention_days:
        return 0
    removed = rt.crawl_repo.prune(now - timedelta(days=s.retention_days))
    rt.crawl_repo.prune_tombstones(now - timedelta(days=max(s.tombstone_days, s.retention_days * 2)))
    if removed:
        log.info("retention: removed %d item(s) first seen more than %d days ago", removed, s.retention_days)
    return removed


@dataclass
class CycleReport:
    results: list[SourceResult] = field(default_factory=list)
    stats: MatchStats = field(default_factory=MatchStats)
    digests: list[DigestOutcome] = field(default_factory=list)

    @property
    def all_sources_failed(self) -> bool:
        return bool(self.results) and all(r.failed for r in self.results)

    @property
    def any_digest_failed(self) -> bool:
        return any(d.status is DigestStatus.FAILED for d in self.digests)


def once(rt: Runtime, progress: Optional[Progress] = None, now: Optional[datetime] = None) -> CycleReport:
    report = CycleReport()
    report.results, report.stats = crawl_and_match(rt, rt.cfg.enabled_sources, progress)
    check_health(rt, now)
    prune(rt, now)
    report.digests = deliver(rt, now)
    return report
