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
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alerts.matching import match_stored  # noqa: E402
from common import ROOT, Texts, emit, machine  # noqa: E402
from spiders.items import NewsItem  # noqa: E402
from spiders.schema import items  # noqa: E402
from spiders.store import Store  # noqa: E402

from alerts.matcher import Matcher  # noqa: E402
from scheduler.config import load_config  # noqa: E402
from spiders.urls import identity_key  # noqa: E402

SOURCES = 1000


def fill(store: Store, start: int, stop: int, texts: Texts) -> None:
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
            with store.engine.begin() as conn:
                conn.execute(items.insert(), rows)
            rows = []
    if rows:
        with store.engine.begin() as conn:
            conn.execute(items.insert(), rows)


def ingest(store: Store, matcher: Matcher, base: int, texts: Texts, rng: random.Random) -> float:
    batch = []
    for k in range(2000):          # new items, 50 per feed as a crawl brings them
        n = base + k
        src = (base // 50 + k // 50) % SOURCES
        title, text = texts.item(2)
        batch.append(NewsItem(source_id=f"s{src}", url=f"https://site{src}.example/news/{n}/",
                              guid=f"g{n}", title=title, summary=text, first_seen=datetime.now(timezone.utc)))
    for _ in range(500):          # re-seen items: found by GUID, unchanged
        n = rng.randrange(base)
        batch.append(NewsItem(source_id=f"s{n % SOURCES}", url=f"https://site{n % SOURCES}.example/news/{n}/",
                              guid=f"g{n}", title="", summary=""))
    start = time.perf_counter()
    for i in range(0, len(batch), 200):
        store.upsert_items(batch[i:i + 200])
    match_stored(store, matcher)
    return (time.perf_counter() - start) / len(batch) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    texts, rng = Texts(), random.Random(3)
    matcher = Matcher(load_config(ROOT / "settings.yaml", environ={}).rulebook)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/growth.db")
        have = 0
        for size in sizes:
            t = time.perf_counter()
            fill(store, have, size, texts)
            have = size + 2000 * (len(results) + 1)
            fill_s = time.perf_counter() - t
            us = ingest(store, matcher, size + 2000 * len(results), texts, rng)
            results[size] = us
            print(f"  store of {size:>9,} items (filled in {fill_s:.0f}s): {us:7.0f} µs per ingested item", file=sys.stderr)
        store.close()
    base = results[sizes[0]]
    print(f"growth: ingest cost per item as the store grows, on {machine()}")
    for size, us in results.items():
        print(f"  {size:>9,} stored items: {us:7.0f} µs/item  ({us / base:.2f}× the {sizes[0]:,} figure)")
    emit("growth", us_per_item={str(k): round(v) for k, v in results.items()},
         ratio_largest=round(results[sizes[-1]] / base, 2))


if __name__ == "__main__":
    main()
