"""Ingest with its peers, in one run (CPU time of every process involved):

* 200 local feeds × 50 items (English and Russian news text) on 20 local hosts;
* feedparser alone, called as newswatch calls it;
* `newswatch once` end to end (fetch, parse, identify, store, match; no subscribers, so no
  mail), then again with every feed answering 304 (the idle cycle);
* rss2email (`r2e run --no-send`) on the same feeds, first and idle;
* `once` with one unchanged feed against rss2email with one unchanged feed;
* peak resident memory of each.

    python bench/ingest.py [--feeds 200] [--items 50]

rss2email must be installed in the same environment (`pip install rss2email`); without it
its figures are skipped.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import feedparser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Texts, emit, machine, newswatch_cmd, rss_feed  # noqa: E402
from newswatch.scheduler.sample_site import SiteServer  # noqa: E402
from newswatch.storage.crawl_repo import CrawlRepository  # noqa: E402
from newswatch.storage.engine import Database  # noqa: E402

HOSTS = 20      # feeds spread over 127.0.0.1 … 127.0.0.20, as if on 20 sites


def children_cpu() -> tuple[float, int]:
    """(CPU seconds of every finished descendant so far, the largest peak RSS in KB)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime, r.ru_maxrss


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float, subprocess.CompletedProcess]:
    """(CPU seconds, wall seconds, result) of one command and its descendants."""
    cpu0, _ = children_cpu()
    start = time.perf_counter()
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    cpu1, _ = children_cpu()
    return cpu1 - cpu0, wall, res


def peak_rss_mb(cmd: list[str], cwd: Path, env: dict | None = None) -> float:
    """Peak RSS of a command's largest process, measured in a fresh interpreter."""
    probe = ("import resource,subprocess,sys;subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,"
             "stderr=subprocess.DEVNULL);print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *cmd], cwd=cwd, capture_output=True, text=True, env=env)
    return int(out.stdout.strip() or 0) / 1024


def newswatch_settings(path: Path, sources: list[dict]) -> None:
    from ruamel.yaml import YAML

    shipped = YAML(typ="safe").load((ROOT / "settings.yaml").read_text("utf-8"))
    settings = {"storage": {"url": "sqlite:///bench.db"},
                "crawl": {"delay": "0s", "autothrottle": False, "retries": 0, "concurrency_per_domain": 16,
                          "max_items_per_source": 1000},
                "sources": sources, "terms": shipped["terms"], "topics": shipped["topics"], "subscribers": []}
    with path.open("w", encoding="utf-8") as fh:
        YAML().dump(settings, fh)


def r2e_setup(folder: Path, urls: list[str]) -> list[str] | None:
    r2e = shutil.which("r2e", path=str(Path(sys.executable).parent)) or shutil.which("r2e")
    if r2e is None:
        return None
    base = [r2e, "-c", str(folder / "r2e.cfg"), "-d", str(folder / "r2e.json")]
    subprocess.run(base + ["new", "bench@example.org"], check=True, capture_output=True)
    for i, url in enumerate(urls):
        subprocess.run(base + ["add", f"f{i}", url], check=True, capture_output=True)
    return base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--items", type=int, default=50)
    args = ap.parse_args()
    texts = Texts()
    servers = [SiteServer(host=f"127.0.0.{h + 1}").start() for h in range(HOSTS)]
    env = {k: v for k, v in os.environ.items() if k != "NEWSWATCH_CONFIG"}
    out: dict = {}
    try:
        bodies, sources, urls = [], [], []
        for f in range(args.feeds):
            site = servers[f % HOSTS]
            body = rss_feed(site.base, f, args.items, texts)
            site.add(f"/f{f}/rss", body, "application/rss+xml")
            bodies.append(body)
            urls.append(f"{site.base}/f{f}/rss")
            sources.append({"id": f"feed-{f}", "kind": "feed", "url": urls[-1], "obey_robots": False,
                            "timezone": "Europe/Minsk", "follow": False})
        total = args.feeds * args.items
        mb = sum(map(len, bodies)) / 1e6

        start = time.process_time()
        n = sum(len(feedparser.parse(b, sanitize_html=False, resolve_relative_uris=False).entries) for b in bodies)
        fp_cpu = time.process_time() - start
        assert n == total

        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            cfg = tmp / "settings.yaml"
            newswatch_settings(cfg, sources)
            once = newswatch_cmd() + ["--config", str(cfg), "once"]
            nw_cpu, nw_wall, res = timed(once, tmp, env)
            db = Database(f"sqlite:///{tmp / 'bench.db'}")
            stored = CrawlRepository(db).count_items()
            db.close()
            assert stored == total, (stored, total, res.stdout[-1500:], res.stderr[-1500:])
            idle_cpu, idle_wall, _ = timed(once, tmp, env)
            nw_peak = peak_rss_mb(once, tmp, env)
            one = tmp / "one.yaml"
            newswatch_settings(one, sources[:1])
            one_cmd = newswatch_cmd() + ["--config", str(one), "once"]
            timed(one_cmd, tmp, env)
            one_cpu, one_wall, _ = timed(one_cmd, tmp, env)

            r2e = r2e_setup(tmp, urls)
            if r2e:
                r2_cpu, r2_wall, _ = timed(r2e + ["run", "--no-send"], tmp)
                r2_idle_cpu, r2_idle_wall, _ = timed(r2e + ["run", "--no-send"], tmp)
                r2_peak = peak_rss_mb(r2e + ["run", "--no-send"], tmp)
                r2_one = [r2e[0], "-c", str(tmp / "one.cfg"), "-d", str(tmp / "one.json")]
                subprocess.run(r2_one + ["new", "bench@example.org"], check=True, capture_output=True)
                subprocess.run(r2_one + ["add", "f0", urls[0]], check=True, capture_output=True)
                timed(r2_one + ["run", "--no-send"], tmp)
                r2_one_cpu, r2_one_wall, _ = timed(r2_one + ["run", "--no-send"], tmp)
    finally:
        for s in servers:
            s.stop()

    print(f"ingest: {args.feeds} feeds × {args.items} items ({total:,} items, {mb:.1f} MB) on {machine()}")
    print("CPU seconds of every process involved (wall seconds in brackets)")
    print(f"  feedparser alone            {fp_cpu:7.2f}           {total / fp_cpu:8,.0f} items/s")
    print(f"  newswatch once              {nw_cpu:7.2f} ({nw_wall:5.1f})   {total / nw_cpu:8,.0f} items/s   "
          f"{fp_cpu / nw_cpu:.2f}× feedparser")
    out.update(items_per_s=round(total / nw_cpu), feedparser_items_per_s=round(total / fp_cpu),
               ratio=round(fp_cpu / nw_cpu, 3), idle_cpu_s=round(idle_cpu, 2), one_feed_cpu_s=round(one_cpu, 2),
               peak_mb=round(nw_peak))
    print(f"  newswatch idle cycle (304s) {idle_cpu:7.2f} ({idle_wall:5.1f})")
    print(f"  newswatch once, one feed    {one_cpu:7.2f} ({one_wall:5.1f})   unchanged")
    print(f"  newswatch peak RSS          {nw_peak:7.0f} MB")
    if r2e:
        print(f"  rss2email --no-send         {r2_cpu:7.2f} ({r2_wall:5.1f})   {total / r2_cpu:8,.0f} items/s   "
              f"newswatch is {r2_cpu / nw_cpu:.2f}× as fast")
        print(f"  rss2email idle cycle        {r2_idle_cpu:7.2f} ({r2_idle_wall:5.1f})   newswatch's is "
              f"{idle_cpu / r2_idle_cpu:.2f}× its")
        print(f"  rss2email one feed          {r2_one_cpu:7.2f} ({r2_one_wall:5.1f})   newswatch's is "
              f"{one_cpu / r2_one_cpu:.2f}× its")
        print(f"  rss2email peak RSS          {r2_peak:7.0f} MB")
        out.update(r2e_ratio=round(r2_cpu / nw_cpu, 3), idle_vs_r2e=round(idle_cpu / r2_idle_cpu, 3),
                   one_vs_r2e=round(one_cpu / r2_one_cpu, 3), r2e_peak_mb=round(r2_peak))
    print("targets: >= 0.5x feedparser; >= 2x rss2email; idle <= 1.5x rss2email's; one feed <= 4x rss2email's")
    emit("ingest", **out)


if __name__ == "__main__":
    main()
