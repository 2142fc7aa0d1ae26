"""Ingest: a local site of 200 feeds × 50 items (English and Russian); items per second end
to end (fetch, parse, normalise, identify, store, match) next to feedparser alone on the
same feeds. Median of several runs, each on an empty store.

    python bench/ingest.py [--feeds 200] [--items 50] [--runs 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Texts, emit, machine, rss_feed  # noqa: E402

from alerts.matcher import Matcher  # noqa: E402
from alerts.matching import match_stored  # noqa: E402
from scheduler.config import load_config  # noqa: E402
from scheduler.sample_site import SiteServer  # noqa: E402
from spiders.runner import run_crawl  # noqa: E402
from spiders.sources import CrawlSettings, Source  # noqa: E402
from spiders.store import Store  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    texts = Texts()
    rulebook = load_config(Path(__file__).resolve().parent.parent / "settings.yaml", environ={}).rulebook
    with SiteServer() as site:
        bodies = []
        for f in range(args.feeds):
            body = rss_feed(site.base, f, args.items, texts)
            site.add(f"/f{f}/rss", body, "application/rss+xml")
            bodies.append(body)
        total = args.feeds * args.items
        mb = sum(map(len, bodies)) / 1e6

        fp_rates = []
        for _ in range(args.runs):
            start = time.perf_counter()
            n = sum(len(feedparser.parse(b, sanitize_html=False, resolve_relative_uris=False).entries) for b in bodies)
            fp_rates.append(n / (time.perf_counter() - start))

        sources = [Source(id=f"feed-{f}", kind="feed", url=f"{site.base}/f{f}/rss", obey_robots=False,
                          timezone="Europe/Minsk") for f in range(args.feeds)]
        crawl = CrawlSettings(delay="0s", autothrottle=False, retries=0, concurrency_per_domain=32,
                              max_items_per_source=1000)
        rates, stats = [], None
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{tmp}/bench.db"
                start = time.perf_counter()
                results = run_crawl(sources, crawl, url)
                crawled = time.perf_counter()
                store = Store(url)
                stats = match_stored(store, Matcher(rulebook))
                took = time.perf_counter() - start
                stored = store.count_items()
                store.close()
            assert stored == total, (stored, total, [r for r in results if r["status"] != "ok"][:3])
            rates.append(total / took)
            print(f"  run: {took:.2f}s ({crawled - start:.2f}s crawl+store, {took - (crawled - start):.2f}s match), "
                  f"{stats.matched} items matched a topic", file=sys.stderr)
    fp = sorted(fp_rates)[len(fp_rates) // 2]
    e2e = sorted(rates)[len(rates) // 2]
    print(f"ingest: {args.feeds} feeds × {args.items} items ({total} items, {mb:.1f} MB) on {machine()}")
    print(f"  feedparser alone : {fp:8.0f} items/s")
    print(f"  end to end       : {e2e:8.0f} items/s  ({e2e / fp:.2f} of feedparser)")
    emit("ingest", items_per_s=round(e2e), feedparser_items_per_s=round(fp), ratio=round(e2e / fp, 3))


if __name__ == "__main__":
    main()
