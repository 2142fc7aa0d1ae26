"""``newswatch run``: the long-running service on APScheduler 3.

* one interval job per enabled source (with jitter); matching, operator alerts and
  ``immediate`` digests right after each crawl;
* one job every minute that sends every digest that is due (slots in each subscriber's time
  zone) and retries failed ones with backoff, whatever their cadence;
* a settings watcher: a changed settings.yaml (by content, not only mtime) is validated and
  switched to — jobs added, removed, rescheduled, a new source crawled at once; an invalid
  or half-written edit is logged with its ``FILE:LINE`` and the last good settings stay;
* housekeeping (retention) every six hours.

Nothing is pickled: the schedule is rebuilt at start from the crawl history (a source
crawled five minutes ago with a fifteen-minute interval runs in ten), so a restart keeps it.
The service holds the installation lock for its lifetime, so a ``once`` started beside it
refuses instead of racing it. SIGTERM/SIGINT stop crawls in progress and exit within
seconds; deliveries in flight are protected by their claims.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from newswatch.alerts.digest_send import DigestStatus
from newswatch.scheduler import cycle, memory
from newswatch.scheduler.config import Config, ConfigError, load_config, read_settings_file
from newswatch.scheduler.runtime import Runtime
from newswatch.spiders.durations import describe_duration
from newswatch.spiders.results import SourceResult
from newswatch.spiders.runner import LogSettings
from newswatch.spiders.sources import Source
from newswatch.storage.errors import StorageError

log = logging.getLogger("newswatch.service")
WATCH_EVERY = 2.0           # seconds between two looks at settings.yaml
DELIVER_EVERY = 60          # seconds between two passes over the digests that are due
HOUSEKEEPING_EVERY = timedelta(hours=6)
STOP_WAIT = 8.0             # seconds a stop waits for running jobs before leaving


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    schedule: str               # for people: "every 15m", "every minute"
    interval: timedelta
    first_run: datetime
    jitter: int = 0


def crawl_specs(cfg: Config, last_runs: dict[str, Optional[datetime]], now: datetime) -> dict[str, JobSpec]:
    """One job per enabled source; the first run continues the schedule of the last crawl."""
    out = {}
    default = cfg.settings.crawl.interval
    for s in cfg.enabled_sources:
        interval = s.interval or default
        last = last_runs.get(s.id)
        first = now if last is None else max(now, last + interval)
        seconds = int(interval.total_seconds())
        out[f"crawl:{s.id}"] = JobSpec(f"crawl:{s.id}", f"every {describe_duration(interval)}", interval, first,
                                       jitter=min(60, max(0, seconds // 10)))
    return out


def job_table(rt: Runtime, now: Optional[datetime] = None) -> list[dict[str, Any]]:
    """Next and last run of every job, for ``newswatch status`` (the service need not run)."""
    now = now or datetime.now(timezone.utc)
    cfg = rt.cfg
    health = {h.source_id: h for h in cycle.health(rt, now, counts=False)}
    specs = crawl_specs(cfg, {sid: h.last_run for sid, h in health.items()}, now)
    rows = []
    for spec in specs.values():
        h = health[spec.job_id.split(":", 1)[1]]
        result = None
        if h.last_run:
            result = f"failed: {h.last_error}" if h.failing else "ok"
        rows.append({"job": spec.job_id, "schedule": spec.schedule, "next_run": spec.first_run,
                     "last_run": h.last_run, "last_result": result})
    names = [s.name for s in cfg.settings.subscribers]
    sent = rt.alerts_repo.last_digests(names, "sent")
    failed = rt.alerts_repo.last_digests(names, "failed")
    for sub in cfg.settings.subscribers:
        last = sent.get(sub.name)
        fail = failed.get(sub.name)
        result, when = ("sent", last.created_at) if last else (None, None)
        if fail and (last is None or fail.created_at > last.created_at):
            result, when = f"failed: {fail.error}", fail.created_at
        nxt = now if sub.cadence.kind == "immediate" else sub.cadence.next_slot(now, sub.zone)
        if sub.cadence.kind != "immediate" and (last is None or (last.slot or last.created_at) < sub.cadence.last_slot(now, sub.zone)):
            nxt = now
        rows.append({"job": f"digest:{sub.name}", "schedule": f"{sub.cadence.describe()} {sub.timezone}",
                     "next_run": nxt, "last_run": when, "last_result": result})
    return rows


class Service:
    def __init__(self, config_path: str, logs: LogSettings = LogSettings("INFO")):
        self.path = Path(config_path).resolve()
        self.cfg = load_config(self.path)
        self.rt = Runtime(self.cfg, logs)
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
            timezone=timezone.utc)
        self.specs: dict[str, JobSpec] = {}
        self.stopping = threading.Event()
        self.cancel = threading.Event()          # stops crawl children in progress
        self.skipped: dict[str, tuple[float, int]] = {}
        self.last_hk = 0.0

    # ---- jobs ----------------------------------------------------------------------------
    def crawl_job(self, source_id: str) -> None:
        cfg = self.rt.cfg
        source = cfg.source(source_id)
        if source is None or not source.enabled or self.stopping.is_set():
            return
        results = self._crawl([source])
        self._after_crawl(results)

    def _crawl(self, sources: list[Source]) -> list[SourceResult]:
        if self.rt.cfg.settings.crawl.backend == "celery":
            return cycle.crawl(self.rt, sources)
        from newswatch.spiders.runner import run_crawl

        return run_crawl(sources, self.rt.cfg.settings.crawl, self.rt.cfg.storage_url, logs=self.rt.logs,
                         cancel=self.cancel)

    def _after_crawl(self, results: list[SourceResult]) -> None:
        for r in results:
            level = logging.WARNING if r.failed else logging.INFO
            log.log(level, "crawl %s", r.summary(), extra={"source": r.source_id, "stage": "crawl"})
        if self.stopping.is_set():
            return
        with self.rt.mutex:
            stats = cycle.match_new(self.rt)
            if stats.matched:
                log.info("match: %d new item(s) matched a topic", stats.matched)
            cycle.check_health(self.rt)
            immediate = [s.name for s in self.rt.cfg.settings.subscribers if s.cadence.kind == "immediate"]
            for name in immediate:
                self._deliver(name)

    def deliver_job(self) -> None:
        if self.stopping.is_set():
            return
        with self.rt.mutex:
            cycle.match_new(self.rt)
            self._deliver(None)
        memory.trim()

    def _deliver(self, only: Optional[str]) -> None:
        for r in cycle.deliver(self.rt, options=cycle.DeliverOptions(only=only, backoff=True)):
            if r.status in (DigestStatus.SENT, DigestStatus.FAILED, DigestStatus.TAKEN):
                level = logging.WARNING if r.status is DigestStatus.FAILED else logging.INFO
                log.log(level, "digest %s", r.describe(), extra={"subscriber": r.subscriber, "stage": "digest"})

    def housekeeping_job(self) -> None:
        with self.rt.mutex:
            cycle.prune(self.rt)

    def watch_job(self) -> None:
        """Apply a changed settings file; refuse an invalid one, keeping the last good."""
        if not self.rt.lock_alive():
            log.error("lost the installation lock (the database connection dropped); taking it again")
            try:
                self.rt.release()
                self.rt.acquire(30, "newswatch run")
            except Exception as exc:   # noqa: BLE001 - reported; the next look tries again
                log.error("could not take the installation lock again: %s", exc)
        try:
            text = read_settings_file(self.path)
        except ConfigError as exc:
            self._refused(exc)
            return
        import hashlib

        if hashlib.sha256(text.encode("utf-8")).hexdigest() == self.rt.cfg.digest:
            return
        try:
            cfg = load_config(self.path, text=text)
        except ConfigError as exc:
            self._refused(exc)
            return
        self.apply(cfg)

    def _refused(self, exc: ConfigError) -> None:
        key = str(exc)
        if getattr(self, "_last_refusal", None) == key:
            return                    # said once per distinct mistake, not every two seconds
        self._last_refusal = key
        for p in exc.problems:
            log.error("settings change refused, keeping the last good settings: %s", p)

    # ---- wiring --------------------------------------------------------------------------
    def apply(self, cfg: Config, first: bool = False) -> None:
        now = datetime.now(timezone.utc)
        last_runs = {h.source_id: h.last_run for h in cycle.health(self.rt, now)} if first else {}
        wanted = crawl_specs(cfg, last_runs, now)
        old_sources = {s.id: s for s in self.rt.cfg.enabled_sources}
        changes: list[str] = []
        if not first:
            before = {s.name for s in self.rt.cfg.settings.subscribers}
            after = {s.name for s in cfg.settings.subscribers}
            changes += [f"subscriber {n} added" for n in sorted(after - before)]
            changes += [f"subscriber {n} removed" for n in sorted(before - after)]
            if cfg.rulebook.version != self.rt.cfg.rulebook.version:
                changes.append(f"rules {self.rt.cfg.rulebook.version} → {cfg.rulebook.version} (new items only; "
                               f"`newswatch rematch` re-applies them to stored ones)")
        # the new settings first, then the jobs: a job added to run now must find its source
        self.rt.update(cfg)
        self.cfg = cfg
        for job_id in set(self.specs) - set(wanted):
            if self.scheduler.get_job(job_id):
                self.scheduler.remove_job(job_id)
            changes.append(f"removed {job_id}")
            del self.specs[job_id]
        for job_id, spec in wanted.items():
            sid = job_id.split(":", 1)[1]
            old = self.specs.get(job_id)
            if old is not None and old.interval == spec.interval and old_sources.get(sid) == cfg.source(sid):
                continue
            trigger = IntervalTrigger(seconds=spec.interval.total_seconds(), jitter=spec.jitter or None,
                                      timezone=timezone.utc)
            # a new source is crawled at once; a changed one keeps its place in the schedule
            first_run = spec.first_run if old is None and first else (now if old is None else None)
            kwargs = {"next_run_time": first_run} if first_run else {}
            self.scheduler.add_job(self.crawl_job, trigger, args=[sid], id=job_id, name=job_id,
                                   replace_existing=True, **kwargs)
            self.specs[job_id] = spec
            if not first:
                changes.append(("added " if old is None else "rescheduled ") + f"{job_id} ({spec.schedule})")
        self._last_refusal = None
        if not first:
            log.info("settings changed, applied: %s", "; ".join(changes) or "no change to jobs")

    def _on_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MAX_INSTANCES:
            # one line per job per hour, not one per skipped run
            first, count = self.skipped.get(event.job_id, (-3600.0, 0))
            count += 1
            if time.monotonic() - first >= 3600:
                log.warning("job %s: %d run(s) skipped since the last report because the previous run was still "
                            "going; is its interval shorter than the work takes?", event.job_id, count)
                first, count = time.monotonic(), 0
            self.skipped[event.job_id] = (first, count)
        elif event.code == EVENT_JOB_ERROR:
            exc = event.exception
            if isinstance(exc, StorageError):
                log.error("job %s: %s", event.job_id, exc)
            else:
                log.error("job %s failed: %s: %s", event.job_id, type(exc).__name__, exc,
                          exc_info=log.isEnabledFor(logging.DEBUG))

    def run(self, install_signals: bool = True) -> int:
        self.rt.acquire(60, "newswatch run")
        stop = threading.Event()

        def on_signal(signum: int, _frame: Any) -> None:
            log.info("signal %s: stopping", signal.Signals(signum).name)
            stop.set()

        if install_signals:
            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
        self.scheduler.add_listener(self._on_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)
        self.apply(self.cfg, first=True)
        self.scheduler.add_job(self.deliver_job, IntervalTrigger(seconds=DELIVER_EVERY), id="deliver",
                               next_run_time=datetime.now(timezone.utc) + timedelta(seconds=5))
        self.scheduler.add_job(self.housekeeping_job, IntervalTrigger(seconds=HOUSEKEEPING_EVERY.total_seconds()),
                               id="housekeeping", next_run_time=datetime.now(timezone.utc) + timedelta(seconds=30))
        self.scheduler.add_job(self.watch_job, IntervalTrigger(seconds=WATCH_EVERY), id="watch-settings")
        self.scheduler.start()
        s = self.cfg.settings
        log.info("newswatch service started: %d source(s), %d subscriber(s), settings %s, storage %s",
                 len(self.cfg.enabled_sources), len(s.subscribers), self.path, self.rt.db.path or "PostgreSQL")
        if s.web.base_url and not self.cfg.web_secret:
            log.warning("web.base_url is set but %s is not: digests carry no relevant / not relevant links",
                        s.web.secret_env)
        try:
            while not stop.wait(0.5):
                pass
        finally:
            self.stop()
        return 0

    def stop(self) -> None:
        self.stopping.set()
        self.cancel.set()
        started = time.monotonic()
        try:
            self.scheduler.shutdown(wait=False)
        except Exception:   # noqa: BLE001 - already stopped
            pass
        pool = self.scheduler._executors.get("default") if hasattr(self.scheduler, "_executors") else None
        threads = list(getattr(getattr(pool, "_pool", None), "_threads", ()))
        for t in threads:
            t.join(timeout=max(0.0, STOP_WAIT - (time.monotonic() - started)))
        self.rt.close()
        log.info("newswatch service stopped after %.1fs", time.monotonic() - started)


def run_service(config_path: Optional[str], logs: LogSettings) -> int:
    from newswatch.scheduler.config import default_path

    memory.limit_arenas()          # before any thread starts
    return Service(str(config_path or default_path()), logs).run()

