"""Growth: the cost of ingesting new items as the store grows to 10k, 100k and 1M items.

At each size, 2,000 new items and 500 already-stored ones go through the pipeline's path
(batched upserts: dedup lookups by GUID, URL and content hash) and the matcher; the figure
is microseconds per item. Doubling the store must not double the per-item cost.

    python bench/growth.py [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Texts, emit, machine  # noqa: E402
from newswatch.alerts.item_matching import match_stored_items  # noqa: E402
from newswatch.alerts.matcher import Matcher  # noqa: E402
from newswatch.scheduler.config import load_config  # noqa: E402
from newswatch.spiders.urls import canonical_url, identity_key  # noqa: E402
from newswatch.storage.alerts_repo import AlertsRepository  # noqa: E402
from newswatch.storage.crawl_repo import CrawlRepository  # noqa: E402
from newswatch.storage.engine import Database  # noqa: E402
from newswatch.storage.rows import ItemRecord, UpsertState  # noqa: E402
from newswatch.storage.schema import items  # noqa: E402

SOURCES = 1000
NEW_BASE = 10**9          # item numbers of the ingested (new) items, above any filled one


def fill(db: Database, start: int, stop: int, texts: Texts) -> None:
    """Bulk-insert synthetic, already-matched items (the store's past)."""
    now = datetime.now(timezone.utc)
    rows = []
    for n in range(start, stop):
        title, text = texts.item(1)
        url = f"https://site{n % SOURCES}.example/news/{n}/"
        rows.append(dict(source_id=f"s{n % SOURCES}", url=url, url_key=identity_key(url), guid=f"g{n}",
                         title=title, summary=text[:300], body="", language="en", published=now, published_guessed=False,
                         first_seen=now - timedelta(seconds=stop - n), content_hash=f"{n:040x}", matched_version="old"))
        if len(rows) == 20000:
            with db.engine.begin() as conn:
                conn.execute(items.insert(), rows)
            rows = []
    if rows:
        with db.engine.begin() as conn:
            conn.execute(items.insert(), rows)


def record(src: int, n: int, title: str, summary: str, now: datetime | None) -> ItemRecord:
    """An item as a crawl hands it to the store (spiders.source_run builds the same)."""
    url = canonical_url(f"https://site{src}.example/news/{n}/")
    return ItemRecord(source_id=f"s{src}", url=url, url_key=identity_key(url, True), title=title, summary=summary,
                      guid=f"g{n}", first_seen=now)


def ingest(crawl: CrawlRepository, alerts: AlertsRepository, matcher: Matcher, filled: int, round_no: int,
           texts: Texts, rng: random.Random) -> float:
    """Microseconds per item of storing 2,000 new items and 500 re-seen ones and matching the new."""
    batch = []
    first = NEW_BASE + round_no * 2000          # numbers no filled item has
    for k in range(2000):          # new items, 50 per feed as a crawl brings them
        n = first + k
        src = (round_no * 40 + k // 50) % SOURCES
        title, text = texts.item(2)
        batch.append(record(src, n, f"{title} ({n})", f"Report {n}. {text}", datetime.now(timezone.utc)))
    for _ in range(500):          # re-seen items of the store's past: found by GUID, unchanged
        n = rng.randrange(filled)
        batch.append(record(n % SOURCES, n, "", "", None))
    start = time.perf_counter()
    outcomes = []
    for i in range(0, len(batch), 200):            # the store pipeline's batches (spiders.pipeline.BATCH)
        outcomes += crawl.upsert_items(batch[i:i + 200])
    stats = match_stored_items(alerts, matcher)
    took = time.perf_counter() - start
    states = Counter(o.state for o in outcomes)
    assert states[UpsertState.NEW] == 2000 and states[UpsertState.SAME] == 500 and stats.items == 2000, (states, stats)
    return took / len(batch) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    texts, rng = Texts(), random.Random(3)
    matcher = Matcher(load_config(ROOT / "settings.yaml", environ={}).rulebook)
    matcher.match({"title": "warm-up", "body": "Belarus and Iran"})
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/growth.db")
        crawl, alerts = CrawlRepository(db), AlertsRepository(db)
        filled = 0
        for round_no, size in enumerate(sizes):
            t = time.perf_counter()
            fill(db, filled, size, texts)
            filled = size
            fill_s = time.perf_counter() - t
            us = ingest(crawl, alerts, matcher, filled, round_no, texts, rng)
            results[size] = us
            print(f"  store of {crawl.count_items():>9,} items (filled in {fill_s:.0f}s): {us:7.0f} µs per ingested "
                  f"item", file=sys.stderr)
        db.close()
    base = results[sizes[0]]
    print(f"growth: ingest cost per item as the store grows, on {machine()}")
    for size, us in results.items():
        print(f"  {size:>9,} stored items: {us:7.0f} µs/item  ({us / base:.2f}× the {sizes[0]:,} figure)")
    emit("growth", us_per_item={str(k): round(v) for k, v in results.items()},
         ratio_largest=round(results[sizes[-1]] / base, 2))


if __name__ == "__main__":
    main()
