"""Issue 9, "Done when": the scheduler and three `newswatch worker` processes against Redis
and PostgreSQL on 127.0.0.1 and a local site of 300 sources; every item stored exactly
once, each subscriber's digest delivered once, and with one worker killed mid-crawl every
item still stored by the next cycle."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import pytest
import redis
from sqlalchemy import create_engine, text

from scheduler.sample_site import SiteServer
from tests.conftest import REDIS_URL, newswatch_cmd, rss, write_settings

pytestmark = pytest.mark.slow
HOSTS, PER_HOST, ITEMS = 10, 30, 5          # 300 sources, 1,500 items


def test_scheduler_and_three_workers(tmp_path, pg_url, smtp_server):
    prefix = f"nwtest-{uuid.uuid4().hex[:8]}"
    servers = [SiteServer(host=f"127.0.0.{h + 1}").start() for h in range(HOSTS)]
    workers: list[subprocess.Popen] = []
    try:
        sources = []
        for h, site in enumerate(servers):
            for f in range(PER_HOST):
                n = h * PER_HOST + f
                items = [{"title": f"Belarus item {n}-{k}" if k % 2 == 0 else f"Weather item {n}-{k}",
                          "link": "{{base}}/s%d/%d" % (n, k), "guid": f"{n}-{k}"} for k in range(ITEMS)]
                # one host answers slowly, so the crawl is still running when a worker dies
                site.add(f"/s{n}/rss", rss(items), "application/rss+xml", delay=1.5 if h == 0 else 0)
                sources.append(f"  - {{id: src-{n}, kind: feed, url: '{site.base}/s{n}/rss', obey_robots: false}}")
        cfg = write_settings(tmp_path / "settings.yaml", f"""
storage: {{url: "{pg_url}"}}
crawl: {{backend: redis, redis_url: "{REDIS_URL}", queue: {prefix}, worker_batch: 10, delay: 0s,
        retries: 0, timeout: 20s, autothrottle: false, concurrency_per_domain: 8, time_limit: 240s, processes: 1}}
sources:
{chr(10).join(sources)}
terms:
  belarus: [Belarus]
topics:
  - {{id: belarus, all: [belarus]}}
subscribers:
  - {{name: a, email: a@example.org, topics: [belarus], digest: immediate}}
  - {{name: b, email: b@example.org, topics: [belarus], digest: immediate}}
email:
  from: "newswatch <nw@example.org>"
  transport: smtp
  smtp: {{host: 127.0.0.1, port: {smtp_server.port}}}
""")
        env = dict(os.environ)
        env.pop("NEWSWATCH_CONFIG", None)
        for i in range(3):
            workers.append(subprocess.Popen(newswatch_cmd() + ["--config", str(cfg), "--log-level", "INFO", "worker"],
                                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"worker{i}.log", "wb"),
                                            env=env, cwd=tmp_path, start_new_session=True))
        scheduler = subprocess.Popen(newswatch_cmd() + ["--config", str(cfg), "once"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        # kill the first worker once it holds jobs of the slow host
        r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
        deadline = time.monotonic() + 60
        victim = workers[0]
        while time.monotonic() < deadline:
            held = [k for k in r.scan_iter(f"{prefix}:processing:*") if r.llen(k)]
            if any(f"-{victim.pid}-" in k for k in held):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the first worker never took a job")
        os.killpg(victim.pid, signal.SIGKILL)          # the worker and its crawl child
        victim.wait()
        out, err = scheduler.communicate(timeout=300)
        assert scheduler.returncode == 0, out[-3000:] + err[-3000:]
        # the next cycle: whatever the dead worker held is crawled now at the latest
        second = subprocess.run(newswatch_cmd() + ["--config", str(cfg), "once"], capture_output=True, text=True,
                                env=env, cwd=tmp_path, timeout=300)
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(timeout=60)
            except subprocess.TimeoutExpired:
                w.kill()
        for s in servers:
            s.stop()
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        total = conn.execute(text("select count(*) from items")).scalar()
        distinct = conn.execute(text("select count(distinct (source_id, url_key)) from items")).scalar()
        crawled = conn.execute(text("select count(distinct source_id) from crawl_runs where status = 'ok'")).scalar()
    engine.dispose()
    assert total == distinct == HOSTS * PER_HOST * ITEMS
    assert crawled == HOSTS * PER_HOST
    for who in ("a@example.org", "b@example.org"):
        lines = [l for m in smtp_server.to(who) for l in m.get_body(("plain",)).get_content().splitlines()
                 if l.startswith("* Belarus item")]
        assert len(lines) == len(set(lines)) == HOSTS * PER_HOST * 3, who     # k = 0, 2, 4 of every source
    assert "Weather" not in "".join(m["msg"].get_body(("plain",)).get_content() for m in smtp_server.messages)


def test_service_with_redis_backend(tmp_path):
    """`newswatch run` queues due sources and sends what a worker crawled."""
    prefix = f"nwtest-{uuid.uuid4().hex[:8]}"
    with SiteServer() as site:
        site.add("/rss", rss([{"title": "Belarus and Iran sign a deal", "link": "{{base}}/1", "guid": "1"}]),
                 "application/rss+xml")
        cfg = write_settings(tmp_path / "settings.yaml", f"""
storage: {{url: "sqlite:///rs.db"}}
crawl: {{backend: redis, redis_url: "{REDIS_URL}", queue: {prefix}, interval: 3s, delay: 0s, retries: 0}}
sources:
  - {{id: feed, kind: feed, url: "{site.base}/rss", obey_robots: false}}
terms:
  b: [Belarus]
topics:
  - {{id: t, all: [b]}}
subscribers:
  - {{name: desk, email: d@example.org, topics: [t], digest: immediate}}
email: {{transport: outbox, outbox_dir: outbox}}
""")
        env = dict(os.environ)
        env.pop("NEWSWATCH_CONFIG", None)
        procs = [subprocess.Popen(newswatch_cmd() + ["--config", str(cfg), cmd], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, env=env, cwd=tmp_path) for cmd in ("worker", "run")]
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not list((tmp_path / "outbox").glob("*.eml")):
                time.sleep(0.3)
            # more polling rounds (waited for, not slept): nothing is sent twice
            import sqlite3

            def runs() -> int:
                with sqlite3.connect(tmp_path / "rs.db", timeout=10) as conn:
                    return conn.execute("select count(*) from crawl_runs").fetchone()[0]

            target = runs() + 2
            while time.monotonic() < deadline + 30 and runs() < target:
                time.sleep(0.3)
            assert runs() >= target
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            codes = [p.wait(timeout=60) for p in procs]
    mails = list((tmp_path / "outbox").glob("*.eml"))
    assert len(mails) == 1
    assert "Belarus and Iran sign a deal" in _decoded(mails[0])
    assert codes == [0, 0]


def _decoded(path) -> str:
    from email import message_from_bytes, policy

    return message_from_bytes(path.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
