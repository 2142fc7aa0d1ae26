"""Distributed crawling on Celery with RabbitMQ and PostgreSQL on 127.0.0.1: a scheduler and
three `newswatch worker` processes; one worker is killed mid-crawl; every item is stored
once and every digest sent once. A broker that is down gives one clear line."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import pytest
from sqlalchemy import create_engine, text

from newswatch.scheduler.sample_site import SiteServer
from newswatch.spiders.tasks import make_app
from tests.conftest import newswatch_cmd, write_settings
from tests.helpers import rss, wait_for

pytestmark = pytest.mark.slow
SOURCES = 24
ITEMS = 3

SETTINGS = """
storage: {{url: "{db}"}}
crawl: {{delay: 0s, retries: 0, timeout: 20s, autothrottle: false, backend: celery, broker_url: "{broker}",
        queue: "{queue}", processes: 1, time_limit: 5m}}
sources:
{sources}
terms:
  belarus: [Belarus]
topics:
  - {{id: belarus, all: [belarus]}}
subscribers:
  - {{name: desk, email: desk@example.org, topics: [belarus], digest: immediate, max_per_topic: 200}}
email:
  from: "newswatch <nw@example.org>"
  transport: smtp
  smtp: {{host: 127.0.0.1, port: {port}}}
"""


def start_worker(cfg, name: str, log) -> subprocess.Popen:
    return subprocess.Popen(newswatch_cmd() + ["--config", str(cfg), "worker", "--concurrency", "1", "--name", name],
                            stdout=subprocess.DEVNULL, stderr=log.open("ab"), cwd=cfg.parent, start_new_session=True)


def test_a_killed_worker_loses_nothing_and_duplicates_nothing(tmp_path, pg_url, rabbitmq, smtp_server):
    servers = [SiteServer() for _ in range(SOURCES)]
    for i, s in enumerate(servers):
        s.add("/rss", rss([{"title": f"Belarus story {i}-{k}", "link": "{{base}}/%d/%d" % (i, k), "guid": f"{i}-{k}"}
                           for k in range(ITEMS)]), "application/rss+xml", delay=1.0)
        s.start()
    workers = []
    try:
        sources = "\n".join(f"  - {{id: s{i:02d}, kind: feed, url: '{s.base}/rss', obey_robots: false}}"
                            for i, s in enumerate(servers))
        queue = f"nw-test-{uuid.uuid4().hex[:8]}"
        cfg = write_settings(tmp_path / "settings.yaml", SETTINGS.format(
            db=pg_url, broker=rabbitmq, queue=queue, sources=sources, port=smtp_server.port))
        log = tmp_path / "workers.log"
        workers = [start_worker(cfg, f"w{i}@test", log) for i in range(3)]
        control = make_app(rabbitmq, queue).control
        wait_for(lambda: len(control.ping(timeout=0.5)) >= 3, timeout=60, what="the three workers to answer a ping")
        once = subprocess.Popen(newswatch_cmd() + ["--config", str(cfg), "once"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        # kill a worker while it is crawling (a batch is active on it; each site answers after a
        # second, so its pages are still in flight)
        busy = wait_for(lambda: [h for h, tasks in (control.inspect(timeout=0.5).active() or {}).items() if tasks],
                        timeout=60, what="a worker to be crawling")
        os.killpg(workers[int(busy[0].split("@")[0][1:])].pid, signal.SIGKILL)
        out, err = once.communicate(timeout=300)
        assert once.returncode == 0, out + err
        assert f"crawl: {SOURCES} of {SOURCES} sources ok" in out, out
        engine = create_engine(pg_url)
        with engine.connect() as conn:
            stored = conn.execute(text("select count(*), count(distinct url) from items")).one()
        engine.dispose()
        assert tuple(stored) == (SOURCES * ITEMS, SOURCES * ITEMS)
        titles = smtp_server.titles("desk@example.org")
        assert sorted(titles) == sorted(f"Belarus story {i}-{k}" for i in range(SOURCES) for k in range(ITEMS))
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGTERM)
                try:
                    w.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(w.pid, signal.SIGKILL)
        for s in servers:
            s.stop()


def test_a_broker_that_is_down_gives_one_clear_line(tmp_path, smtp_server, run_cli):
    with SiteServer() as s:
        s.add("/rss", rss([{"title": "Belarus", "link": "{{base}}/1", "guid": "1"}]), "application/rss+xml")
        cfg = write_settings(tmp_path / "settings.yaml", SETTINGS.format(
            db="sqlite:///nw.db", broker="amqp://guest:guest@127.0.0.1:9//", queue="nw-down",
            sources=f"  - {{id: s, kind: feed, url: '{s.base}/rss', obey_robots: false}}", port=smtp_server.port))
        started = time.monotonic()
        code, out, err = run_cli("crawl", config=cfg)
    assert code == 1
    assert "cannot reach the Celery broker at amqp://guest:***@127.0.0.1:9//" in out
    assert "Traceback" not in err and time.monotonic() - started < 60
