"""The shared crawl queue on Redis, for `crawl.backend: redis`.

The scheduler puts due sources on a Redis list; `newswatch worker` processes (any number,
on any machine) take them, crawl them in a child process and write the items to the
shared store. A reliable-queue pattern keeps nothing from being lost: a worker moves each
job to its own processing list and keeps a heartbeat; the jobs of a worker whose
heartbeat lapses (it was killed) go back on the queue. Within a cycle a shared duplicate
filter (scrapy-redis) keeps two workers from fetching the same article.

Keys (prefix ``crawl.queue``): ``P:jobs`` (list), ``P:queued`` (set of source ids waiting
or running), ``P:processing:W`` (list per worker), ``P:worker:W`` (heartbeat, expires),
``P:results`` (list of finished-source results), ``P:dupefilter:C`` (per cycle).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from typing import Iterable

import redis

from spiders.sources import Source

log = logging.getLogger("newswatch.queue")
HEARTBEAT = 10          # seconds a worker's heartbeat lives; it refreshes it every few seconds


class CrawlQueue:
    def __init__(self, url: str, prefix: str = "newswatch"):
        self.redis = redis.Redis.from_url(url, decode_responses=True)
        self.p = prefix

    def key(self, *parts: str) -> str:
        return ":".join((self.p,) + parts)

    # ---- scheduler side ------------------------------------------------------------------
    def enqueue(self, sources: Iterable[Source], cycle: str) -> list[str]:
        """Queue each source not already waiting or running; returns the ids queued."""
        queued = []
        for s in sources:
            if self.redis.sadd(self.key("queued"), s.id):
                self.redis.lpush(self.key("jobs"), json.dumps({"source": s.model_dump(mode="json"), "cycle": cycle}))
                queued.append(s.id)
        return queued

    def requeue_dead(self) -> int:
        """Put back the jobs of workers whose heartbeat has lapsed."""
        moved = 0
        for key in self.redis.scan_iter(self.key("processing", "*")):
            worker = key.rsplit(":", 1)[-1]
            if self.redis.exists(self.key("worker", worker)):
                continue
            while self.redis.lmove(key, self.key("jobs"), "RIGHT", "LEFT"):
                moved += 1
            self.redis.delete(key)
        if moved:
            log.warning("requeued %d crawl job(s) of stopped workers", moved)
        return moved

    def results(self) -> list[dict]:
        out = []
        while True:
            raw = self.redis.rpop(self.key("results"))
            if raw is None:
                return out
            out.append(json.loads(raw))

    def pending(self) -> int:
        return self.redis.scard(self.key("queued"))

    def workers(self) -> list[str]:
        return [k.rsplit(":", 1)[-1] for k in self.redis.scan_iter(self.key("worker", "*"))]

    # ---- worker side ---------------------------------------------------------------------
    def new_worker_id(self) -> str:
        return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    def heartbeat(self, worker: str) -> None:
        self.redis.set(self.key("worker", worker), str(time.time()), ex=HEARTBEAT)

    def take(self, worker: str, batch: int, wait: float) -> list[dict]:
        """Move up to ``batch`` jobs to this worker's processing list (waits for the first)."""
        processing = self.key("processing", worker)
        first = self.redis.blmove(self.key("jobs"), processing, wait, "RIGHT", "LEFT")
        if first is None:
            return []
        jobs = [first]
        while len(jobs) < batch:
            more = self.redis.lmove(self.key("jobs"), processing, "RIGHT", "LEFT")
            if more is None:
                break
            jobs.append(more)
        return [json.loads(j) | {"_raw": j} for j in jobs]

    def done(self, worker: str, job: dict, result: dict) -> None:
        pipe = self.redis.pipeline()
        pipe.lpush(self.key("results"), json.dumps(result, default=str))
        pipe.lrem(self.key("processing", worker), 1, job["_raw"])
        pipe.srem(self.key("queued"), job["source"]["id"])
        pipe.execute()

    def leave(self, worker: str) -> None:
        """A clean exit: unfinished jobs go back on the queue at once."""
        processing = self.key("processing", worker)
        while self.redis.lmove(processing, self.key("jobs"), "RIGHT", "LEFT"):
            pass
        self.redis.delete(self.key("worker", worker))


class CycleFilter:
    """The duplicate filter all workers of one crawl cycle share (scrapy-redis's
    RFPDupeFilter on a per-cycle key): an article one worker fetches, the others skip."""

    def __init__(self, redis_url: str, key: str):
        from scrapy_redis.dupefilter import RFPDupeFilter

        server = redis.Redis.from_url(redis_url)
        self.filter = RFPDupeFilter(server, key=key, debug=False)
        self.server, self.key = server, key

    def claim(self, request) -> bool:
        """True if this worker should fetch the request (nobody else has in this cycle)."""
        seen = self.filter.request_seen(request)
        self.server.expire(self.key, 6 * 3600)
        return not seen
