"""Scale-out ingest: 200 feeds × 50 items crawled through the Redis queue by 1, 2 and 3
`newswatch worker` processes into PostgreSQL (both on 127.0.0.1). Items per second from
queueing to the last result (workers already running).

    python bench/workers.py [--feeds 200] [--items 50] [--workers 1,2,3]
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
from common import ROOT, Texts, emit, machine, rss_feed  # noqa: E402
from ingest import HOSTS, newswatch_cmd  # noqa: E402

import redis  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from scheduler.sample_site import SiteServer  # noqa: E402

PG = os.environ.get("NEWSWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("NEWSWATCH_TEST_REDIS", "redis://127.0.0.1:6379/0")


def settings(path: Path, db: str, prefix: str, sources: list[str]) -> None:
    shipped = (ROOT / "settings.yaml").read_text("utf-8")
    terms_topics = shipped.split("\nterms:", 1)[1].split("\nsubscribers:", 1)[0]
    path.write_text(f"""storage: {{url: "{db}"}}
crawl: {{backend: redis, redis_url: "{REDIS}", queue: {prefix}, worker_batch: 25, delay: 0s, retries: 0,
        autothrottle: false, concurrency_per_domain: 16, processes: 1, max_items_per_source: 1000}}
sources:
{chr(10).join(sources)}
terms:{terms_topics}
""")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--workers", default="1,2,3")
    args = ap.parse_args()
    texts = Texts()
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    servers = [SiteServer(host=f"127.0.0.{h + 1}").start() for h in range(HOSTS)]
    rates = {}
    try:
        sources = []
        for f in range(args.feeds):
            site = servers[f % HOSTS]
            site.add(f"/f{f}/rss", rss_feed(site.base, f, args.items, texts), "application/rss+xml")
            sources.append(f'  - {{id: feed-{f}, kind: feed, url: "{site.base}/f{f}/rss", obey_robots: false}}')
        total = args.feeds * args.items
        for n in [int(x) for x in args.workers.split(",")]:
            name, prefix = f"nw_bench_{uuid.uuid4().hex[:8]}", f"nwbench-{uuid.uuid4().hex[:6]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            db = PG.rsplit("/", 1)[0] + "/" + name
            with tempfile.TemporaryDirectory() as tmp:
                cfg = Path(tmp) / "settings.yaml"
                settings(cfg, db, prefix, sources)
                subprocess.run(newswatch_cmd() + ["--config", str(cfg), "sources"], capture_output=True)  # migrate
                procs = [subprocess.Popen(newswatch_cmd() + ["--config", str(cfg), "worker"], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, cwd=tmp) for _ in range(n)]
                r = redis.Redis.from_url(REDIS)
                while len(list(r.scan_iter(f"{prefix}:worker:*"))) < n:
                    time.sleep(0.1)
                start = time.perf_counter()
                res = subprocess.run(newswatch_cmd() + ["--config", str(cfg), "crawl"], capture_output=True, text=True)
                took = time.perf_counter() - start
                for p in procs:
                    p.send_signal(signal.SIGTERM)
                for p in procs:
                    p.wait(timeout=60)
            engine = create_engine(db)
            with engine.connect() as conn:
                stored = conn.execute(text("select count(*) from items")).scalar()
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            assert stored == total, (stored, res.stdout[-1500:], res.stderr[-1500:])
            rates[n] = total / took
            print(f"  {n} worker(s): {took:.2f}s, {rates[n]:.0f} items/s", file=sys.stderr)
    finally:
        for s in servers:
            s.stop()
        admin.dispose()
    print(f"scale-out ingest: {args.feeds} feeds × {args.items} items via Redis into PostgreSQL, on {machine()}")
    for n, rate in rates.items():
        print(f"  {n} worker(s): {rate:7.0f} items/s")
    emit("workers", items_per_s={str(k): round(v) for k, v in rates.items()})


if __name__ == "__main__":
    main()
