"""Ingest: a local site of 200 feeds × 50 items (English and Russian); items per second end
to end (fetch, parse, normalise, identify, store, match) next to feedparser alone on the
same feeds. Median of several runs, each on an empty store.

    python bench/ingest.py [--feeds 200] [--items 50] [--runs 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Texts, emit, machine, rss_feed  # noqa: E402
from spiders.store import Store  # noqa: E402

from scheduler.sample_site import SiteServer  # noqa: E402

HOSTS = 20      # feeds spread over 127.0.0.1 … 127.0.0.20, as if on 20 sites


def write_settings(path: Path, sources: list[dict]) -> None:
    from ruamel.yaml import YAML

    shipped = YAML(typ="safe").load((ROOT / "settings.yaml").read_text("utf-8"))
    settings = {"storage": {"url": "sqlite:///bench.db"},
                "crawl": {"delay": "0s", "autothrottle": False, "retries": 0, "concurrency_per_domain": 16,
                          "max_items_per_source": 1000},
                "sources": sources, "terms": shipped["terms"], "topics": shipped["topics"]}
    with path.open("w", encoding="utf-8") as fh:
        YAML().dump(settings, fh)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    texts = Texts()
    servers = [SiteServer(host=f"127.0.0.{h + 1}").start() for h in range(HOSTS)]
    try:
        bodies, sources = [], []
        for f in range(args.feeds):
            site = servers[f % HOSTS]
            body = rss_feed(site.base, f, args.items, texts)
            site.add(f"/f{f}/rss", body, "application/rss+xml")
            bodies.append(body)
            sources.append({"id": f"feed-{f}", "kind": "feed", "url": f"{site.base}/f{f}/rss",
                            "obey_robots": False, "timezone": "Europe/Minsk"})
        total = args.feeds * args.items
        mb = sum(map(len, bodies)) / 1e6

        fp_rates = []
        for _ in range(args.runs):
            start = time.perf_counter()
            n = sum(len(feedparser.parse(b, sanitize_html=False, resolve_relative_uris=False).entries) for b in bodies)
            fp_rates.append(n / (time.perf_counter() - start))

        rates = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                cfg = Path(tmp) / "settings.yaml"
                write_settings(cfg, sources)
                start = time.perf_counter()
                res = subprocess.run(newswatch_cmd() + ["--config", str(cfg), "crawl"], capture_output=True, text=True)
                took = time.perf_counter() - start
                store = Store(f"sqlite:///{tmp}/bench.db")
                stored, matched = store.count_items(), store.count_matched_items()
                store.close()
            assert stored == total, (stored, total, res.stdout[-2000:], res.stderr[-2000:])
            rates.append(total / took)
            print(f"  run: {took:.2f}s for {total} items, {matched} matched a topic", file=sys.stderr)
    finally:
        for s in servers:
            s.stop()
    fp = sorted(fp_rates)[len(fp_rates) // 2]
    e2e = sorted(rates)[len(rates) // 2]
    print(f"ingest: {args.feeds} feeds × {args.items} items ({total} items, {mb:.1f} MB) on {machine()}")
    print(f"  feedparser alone          : {fp:8.0f} items/s (one core)")
    print(f"  end to end (newswatch crawl): {e2e:8.0f} items/s ({e2e / fp:.2f} of feedparser)")
    emit("ingest", items_per_s=round(e2e), feedparser_items_per_s=round(fp), ratio=round(e2e / fp, 3))


def newswatch_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("newswatch")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "scheduler.cli"]


if __name__ == "__main__":
    main()
