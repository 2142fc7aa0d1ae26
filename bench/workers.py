"""Scale-out on latency-bound sites: feeds whose pages each take 200 ms to answer (as real
news sites from abroad do), each feed's articles followed, crawled through Celery (RabbitMQ)
by 1, 2 and 3 `newswatch worker` processes into PostgreSQL (SQLite if PostgreSQL is not
there). Seconds from sending the batches to the last result, workers already running.

Every site has its own host name (127.0.0.2, 127.0.0.3, … all loopback), so per-domain
politeness does not serialise them; what bounds one worker is its own concurrency
(crawl.concurrency), which is what more workers add.

    python bench/workers.py [--feeds 120] [--articles 8] [--latency 0.2] [--workers 1,2,3]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Texts, emit, machine, newswatch_cmd, rss_feed, terms_and_topics  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from newswatch.scheduler.sample_site import SiteServer  # noqa: E402

PG = os.environ.get("NEWSWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
AMQP = os.environ.get("NEWSWATCH_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
ARTICLE = ("<html><head><title>{t}</title></head><body><article><h1>{t}</h1><p>{b}</p></article></body></html>")


def database(admin) -> tuple[str, str]:
    name = f"nw_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return name, PG.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=120)
    ap.add_argument("--articles", type=int, default=8, help="articles per feed, each followed")
    ap.add_argument("--latency", type=float, default=0.2, help="seconds each response takes")
    ap.add_argument("--concurrency", type=int, default=8, help="crawl.concurrency of each worker")
    ap.add_argument("--workers", default="1,2,3")
    args = ap.parse_args()
    texts = Texts()
    try:
        admin = create_engine(PG, isolation_level="AUTOCOMMIT")
        admin.connect().close()
    except Exception:   # noqa: BLE001 - fall back to SQLite, and say so
        admin = None
    servers = []
    times: dict[int, float] = {}
    try:
        sources = []
        for f in range(args.feeds):
            site = SiteServer(host=f"127.0.0.{2 + f}").start()
            servers.append(site)
            site.add("/rss", rss_feed(site.base, f, args.articles, texts, article_links=True), "application/rss+xml",
                     delay=args.latency)
            for i in range(args.articles):
                title, body = texts.item()
                site.add(f"/f{f}/news/{i}", ARTICLE.format(t=title, b=body), delay=args.latency)
            sources.append(f'  - {{id: feed-{f}, kind: feed, url: "{site.base}/rss", obey_robots: false, '
                           f'follow: true, interval: 1h}}')
        expected = args.feeds * args.articles
        for n in [int(x) for x in args.workers.split(",")]:
            name, db = database(admin) if admin is not None else ("", "sqlite:///nw.db")
            queue = f"nwbench-{uuid.uuid4().hex[:6]}"
            with tempfile.TemporaryDirectory() as tmp:
                cfg = Path(tmp) / "settings.yaml"
                cfg.write_text(f"""storage: {{url: "{db}"}}
crawl: {{backend: celery, broker_url: "{AMQP}", queue: {queue}, delay: 0s, retries: 0, autothrottle: false,
        concurrency: {args.concurrency}, concurrency_per_domain: 4, processes: 1, article_limit: 1000,
        time_limit: 30m}}
sources:
{chr(10).join(sources)}
{terms_and_topics()}
subscribers: []
""")
                subprocess.run(newswatch_cmd() + ["--config", str(cfg), "sources"], capture_output=True, cwd=tmp)
                procs = [subprocess.Popen(newswatch_cmd() + ["--config", str(cfg), "worker", "--concurrency", "1",
                                                             "--name", f"bench{i}@%h"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp,
                                          start_new_session=True) for i in range(n)]
                time.sleep(5)                                   # the workers connect to the broker
                start = time.perf_counter()
                res = subprocess.run(newswatch_cmd() + ["--config", str(cfg), "crawl"], capture_output=True, text=True,
                                     cwd=tmp)
                took = time.perf_counter() - start
                for p in procs:
                    os.killpg(p.pid, signal.SIGTERM)
                for p in procs:
                    try:
                        p.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        os.killpg(p.pid, signal.SIGKILL)
                engine = create_engine(db if admin is not None else f"sqlite:///{tmp}/nw.db")
                with engine.connect() as conn:
                    stored = conn.execute(text("select count(*) from items")).scalar()
                engine.dispose()
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            assert stored == expected, (stored, expected, res.stdout[-1500:], res.stderr[-1500:])
            times[n] = took
            print(f"  {n} worker(s): {took:.1f}s", file=sys.stderr)
    finally:
        for s in servers:
            s.stop()
        if admin is not None:
            admin.dispose()
    one = times.get(1)
    print(f"scale-out: {args.feeds} feeds × {args.articles} followed articles, {args.latency * 1000:.0f} ms per "
          f"response, Celery on RabbitMQ into {'PostgreSQL' if admin is not None else 'SQLite'}, on {machine()}")
    targets = {2: 1.7, 3: 2.3}
    for n, took in times.items():
        speedup = one / took if one else 1.0
        goal = f"  (target ≥ {targets[n]}×: {'met' if speedup >= targets[n] else 'MISSED'})" if n in targets else ""
        print(f"  {n} worker(s): {took:6.1f}s  {speedup:4.2f}× one worker{goal}")
    emit("workers", seconds={str(k): round(v, 2) for k, v in times.items()},
         speedup={str(k): round(one / v, 2) for k, v in times.items()} if one else {},
         targets={str(k): v for k, v in targets.items()}, feeds=args.feeds, articles=args.articles,
         database="PostgreSQL" if admin is not None else "SQLite")


if __name__ == "__main__":
    main()
