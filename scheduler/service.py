"""``newswatch run``: the long-running service on APScheduler 3.

* one interval job per source (with jitter), matching and immediate digests right after;
* one digest job per subscriber cadence, in the subscriber's time zone;
* a settings watcher: a changed settings.yaml is validated and switched to (jobs added,
  removed, rescheduled); an invalid edit is logged and the last good settings stay;
* job state in the project's database (SQLAlchemyJobStore), so a restart keeps the
  schedule; missed runs are coalesced; one instance of each job at a time;
* SIGTERM/SIGINT stop the scheduler after the running jobs finish.

Jobs are module-level functions taking the settings path, so they survive a restart and
always run with the settings in force at that moment.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from alerts.digest import Subscription
from alerts.matcher import Matcher
from scheduler import cycle
from scheduler.config import Config, ConfigError, load_config
from spiders.schema import make_engine
from spiders.store import Store

log = logging.getLogger("newswatch.service")
_DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WATCH_SECONDS = 2         # how often settings.yaml is checked for changes (a stat call)
_lock = threading.Lock()          # one writer of deliveries at a time within the service


# The last good settings per settings path. Jobs read them from here, so that a broken edit
# of settings.yaml never reaches a running job; outside the service they load from disk.
_current: dict[str, Config] = {}


def _load(path: str) -> Config:
    cfg = _current.get(path)
    return cfg if cfg is not None else load_config(path)


# One store (engine and connection pool) per database and one matcher per rules version
# for the life of the service: building them for every job made memory creep.
_stores: dict[str, Store] = {}
_matchers: dict[str, Matcher] = {}
_shared_lock = threading.Lock()


def _store(cfg: Config) -> Store:
    with _shared_lock:
        if cfg.storage_url not in _stores:
            _stores[cfg.storage_url] = Store(cfg.storage_url)
        return _stores[cfg.storage_url]


def _matcher(cfg: Config) -> Matcher:
    with _shared_lock:
        version = cfg.rulebook.version
        if version not in _matchers:
            _matchers.clear()
            _matchers[version] = Matcher(cfg.rulebook)
        return _matchers[version]


# ---- jobs (module-level, referenced by name in the job store) -----------------------------
def crawl_job(config_path: str, source_id: str) -> None:
    cfg = _load(config_path)
    source = next((s for s in cfg.sources if s.id == source_id), None)
    if source is None:
        log.warning("source %s: no longer in the settings; skipping", source_id)
        return
    if cfg.settings.crawl.backend == "redis":
        from scheduler.distributed import cycle_id, queue_for

        queue_for(cfg).enqueue([source], cycle_id())     # workers crawl; collect_job follows up
        return
    results = cycle.crawl_sources(cfg, [source], progress=lambda line: None)
    _after_crawl(cfg, results)


def _after_crawl(cfg: Config, results: list[dict]) -> None:
    with _lock:
        store = _store(cfg)
        cycle.check_health(cfg, store)
        stats = cycle.match_new(cfg, store, _matcher(cfg))
        if stats.matched:
            log.info("match: %d new item(s) matched a topic", stats.matched)
        immediate = [s.name for s in cfg.settings.subscribers if s.cadence.kind == "immediate"]
        for name in immediate:
            for r in cycle.deliver(cfg, store, only=name, backoff=True):
                if r.status in ("sent", "failed"):
                    log.info("digest %s", cycle.format_dispatch(r), extra={"subscriber": name, "stage": "digest"})
    for r in results:
        level = logging.WARNING if r["status"] == "failed" else logging.INFO
        log.log(level, "crawl %s", cycle.format_result(r), extra={"source": r["source_id"], "stage": "crawl"})


def collect_job(config_path: str) -> None:
    """crawl.backend redis: take the workers' results, then match and send as after a crawl."""
    from scheduler.distributed import collect

    cfg = _load(config_path)
    results: list[dict] = []
    collect(cfg, results.append)
    if results:
        _after_crawl(cfg, results)


def digest_job(config_path: str, subscriber: str) -> None:
    cfg = _load(config_path)
    with _lock:
        store = _store(cfg)
        cycle.match_new(cfg, store, _matcher(cfg))
        for r in cycle.deliver(cfg, store, only=subscriber, backoff=True):
            log.info("digest %s", cycle.format_dispatch(r), extra={"subscriber": subscriber, "stage": "digest"})


def housekeeping_job(config_path: str) -> None:
    cfg = _load(config_path)
    with _lock:
        cycle.prune(cfg, _store(cfg))


# ---- wiring -------------------------------------------------------------------------------
def _cadence_trigger(sub: Subscription):
    c = sub.cadence
    if c.kind == "hourly":
        return CronTrigger(minute=0, timezone=sub.zone)
    if c.kind == "daily":
        return CronTrigger(hour=c.hour, minute=c.minute, timezone=sub.zone)
    if c.kind == "weekly":
        return CronTrigger(day_of_week=_DAY_NAMES[c.weekday], hour=c.hour, minute=c.minute, timezone=sub.zone)
    # immediate subscribers are served after every crawl; this catches retries too
    return IntervalTrigger(minutes=1)


def _jobstore(cfg: Config) -> SQLAlchemyJobStore:
    # the project's own engine: WAL and busy timeout on SQLite, shared with the crawl child
    return SQLAlchemyJobStore(engine=make_engine(cfg.storage_url), tablename="scheduler_jobs")


def job_table(cfg: Config) -> list[dict]:
    """Next and last run of every job, for ``newswatch status`` (the service need not run)."""
    store = _jobstore(cfg)
    store.start(BackgroundScheduler(timezone=timezone.utc), "default")
    persisted = {j.id: j for j in store.get_all_jobs()}
    store.shutdown()
    data = Store(cfg.storage_url)
    rows = []
    try:
        for job_id, (_func, args, _trigger, desc) in desired_jobs(cfg).items():
            job = persisted.get(job_id)
            last, result = None, None
            if job_id.startswith("crawl:"):
                history = data.crawl_history(args[1], limit=1)
                if history:
                    r = history[0]
                    last = r.finished_at
                    result = (f"{r.status}, {r.items_new} new" if r.status != "failed" else f"failed: {r.error}")
            elif job_id.startswith("digest:"):
                last = data.last_digest(args[1])
                failed = data.last_digest(args[1], "failed")
                if failed and (last is None or failed > last):
                    last, result = failed, "failed"
                elif last:
                    result = "sent"
            rows.append({"job": job_id, "schedule": desc, "next_run": job.next_run_time if job else None,
                         "last_run": last, "last_result": result, "scheduled": job is not None})
    finally:
        data.close()
    return rows


def desired_jobs(cfg: Config) -> dict[str, tuple]:
    """job id → (function, args, trigger, trigger description)."""
    path = str(cfg.path.resolve())
    jobs = {}
    default = cfg.settings.crawl.interval
    for s in cfg.sources:
        seconds = int((s.interval or default).total_seconds())
        jobs[f"crawl:{s.id}"] = (crawl_job, (path, s.id),
                                 IntervalTrigger(seconds=seconds, jitter=min(60, max(1, seconds // 10))),
                                 f"every {seconds}s")
    for sub in cfg.settings.subscribers:
        jobs[f"digest:{sub.name}"] = (digest_job, (path, sub.name), _cadence_trigger(sub), f"{sub.digest} {sub.timezone}")
    jobs["housekeeping"] = (housekeeping_job, (path,), IntervalTrigger(hours=6), "every 6h")
    if cfg.settings.crawl.backend == "redis":
        jobs["collect"] = (collect_job, (path,), IntervalTrigger(seconds=2), "every 2s")
    return jobs


class Service:
    def __init__(self, config_path: str):
        self.config_path = str(Path(config_path).resolve())
        self.cfg = load_config(self.config_path)
        _current[self.config_path] = self.cfg
        self.mtime = os.stat(self.config_path).st_mtime_ns
        self.scheduler = BlockingScheduler(
            jobstores={"default": _jobstore(self.cfg)},
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
            timezone=timezone.utc,
        )
        self.signatures: dict[str, str] = {}

    def apply(self, cfg: Config, first: bool = False) -> None:
        wanted = desired_jobs(cfg)
        existing = {j.id for j in self.scheduler.get_jobs()}
        for job_id in existing - set(wanted):
            if job_id == "watch-settings":
                continue
            self.scheduler.remove_job(job_id)
            log.info("job %s removed", job_id)
        now = datetime.now(timezone.utc)
        for job_id, (func, args, trigger, desc) in wanted.items():
            sig = f"{func.__name__}{args}{desc}"
            if job_id in existing and self.signatures.get(job_id) == sig:
                continue
            if job_id in existing and first:
                # restarted service: keep the persisted schedule unless the settings changed it
                self.signatures[job_id] = sig
                self.scheduler.modify_job(job_id, args=args)
                continue
            next_run = now if job_id.startswith("crawl:") and job_id not in existing else None
            kwargs = {"next_run_time": next_run} if next_run else {}
            self.scheduler.add_job(func, trigger, args=args, id=job_id, name=f"{job_id} ({desc})",
                                   replace_existing=True, **kwargs)
            self.signatures[job_id] = sig
            log.info("job %s scheduled (%s)", job_id, desc)
        self.cfg = cfg
        _current[self.config_path] = cfg

    def watch(self) -> None:
        try:
            mtime = os.stat(self.config_path).st_mtime_ns
        except OSError as exc:
            log.error("settings %s unreadable (%s); keeping the last good settings", self.config_path, exc)
            return
        if mtime == self.mtime:
            return
        self.mtime = mtime
        try:
            cfg = load_config(self.config_path)
        except ConfigError as exc:
            for p in exc.problems:
                log.error("settings change refused, keeping the last good settings: %s", p)
            return
        log.info("settings changed: applying %s", self.config_path)
        self.apply(cfg)

    def run(self) -> int:
        self.scheduler.add_jobstore("memory", alias="local")
        self.scheduler.add_job(self.watch, IntervalTrigger(seconds=WATCH_SECONDS), id="watch-settings",
                               jobstore="local", replace_existing=True)

        def stop(signum, _frame):
            log.warning("signal %s: finishing running jobs, then stopping", signal.Signals(signum).name)
            threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.scheduler.add_listener(self._on_start, mask=1)  # EVENT_SCHEDULER_STARTED
        log.warning("newswatch service starting: %d sources, %d subscribers, settings %s",
                    len(self.cfg.sources), len(self.cfg.settings.subscribers), self.config_path)
        self.scheduler.start(paused=True)
        return 0

    def _on_start(self, _event) -> None:
        self.apply(self.cfg, first=True)
        self.scheduler.resume()


def run_service(config_path: Optional[str]) -> int:
    from scheduler.config import default_path

    return Service(str(config_path or default_path())).run()
