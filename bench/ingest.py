"""Ingest with its peers, in one run (CPU time of every process involved):

* 200 local feeds × 50 items (English and Russian news text) on 20 local hosts;
* feedparser alone, called as newswatch calls it;
* `newswatch once` end to end (fetch, parse, identify, store, match; no subscribers, so no
  mail), then again with every feed answering 304 (the idle cycle);
* rss2email (`r2e run --no-send`) on the same feeds, first and idle;
* `once` with one unchanged feed against rss2email with one unchanged feed;
* peak resident memory of the largest process of each first (everything new) cycle, and of
  `newswatch once` on 1,000 such feeds from an empty database (--peak-feeds).

CPU time and peak memory are the kernel's account of each command and every process it
started (wait4), so nothing is run twice to measure it. With --runs N every figure is the
median of N runs, each on a fresh database; the spread is printed too.

    python bench/ingest.py [--feeds 200] [--items 50] [--runs 1] [--peak-feeds 1000]

Targets: newswatch's items per CPU second ≥ 0.5× feedparser alone's; ≥ 2× rss2email's; its
idle cycle ≤ 1.5× rss2email's CPU time, one unchanged feed ≤ 4×; peak RSS ≤ 120 MB at
1,000 feeds.

rss2email must be installed in the same environment (`pip install rss2email`); without it
its figures are skipped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import feedparser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Texts, byte_compile, emit, machine, newswatch_cmd, rss_feed  # noqa: E402
from newswatch.scheduler.sample_site import SiteServer  # noqa: E402
from newswatch.storage.crawl_repo import CrawlRepository  # noqa: E402
from newswatch.storage.engine import Database  # noqa: E402

HOSTS = 20      # feeds spread over 127.0.0.1 … 127.0.0.20, as if on 20 sites
TARGETS = {"vs_feedparser": 0.5, "vs_r2e": 2.0, "idle_vs_r2e": 1.5, "one_vs_r2e": 4.0, "peak_mb": 120,
           "peak_feeds": 1000}


@dataclass
class Took:
    cpu: float          # seconds of CPU of the command and every process it started
    wall: float
    peak_mb: float      # the largest resident set of any of those processes
    returncode: int
    stdout: str
    stderr: str


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> Took:
    """Run a command; the kernel's account of it and of its descendants (wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Took(usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024, proc.returncode,
                    out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"))


def checked(took: Took, what: str) -> Took:
    if took.returncode != 0:
        raise SystemExit(f"{what} exited with {took.returncode}:\n{took.stdout[-1500:]}\n{took.stderr[-1500:]}")
    return took


def newswatch_settings(path: Path, sources: list[dict], db: str = "bench.db") -> None:
    from ruamel.yaml import YAML

    shipped = YAML(typ="safe").load((ROOT / "settings.yaml").read_text("utf-8"))
    settings = {"storage": {"url": f"sqlite:///{db}"},
                "crawl": {"delay": "0s", "autothrottle": False, "retries": 0, "concurrency_per_domain": 16,
                          "max_items_per_source": 1000},
                "sources": sources, "terms": shipped["terms"], "topics": shipped["topics"], "subscribers": []}
    with path.open("w", encoding="utf-8") as fh:
        YAML().dump(settings, fh)


def stored_items(folder: Path, db: str = "bench.db") -> int:
    database = Database(f"sqlite:///{folder / db}")
    try:
        return CrawlRepository(database).count_items()
    finally:
        database.close()


def find_r2e() -> str | None:
    return shutil.which("r2e", path=str(Path(sys.executable).parent)) or shutil.which("r2e")


def r2e_setup(r2e: str, folder: Path, name: str, urls: list[str]) -> list[str]:
    base = [r2e, "-c", str(folder / f"{name}.cfg"), "-d", str(folder / f"{name}.json")]
    subprocess.run(base + ["new", "bench@example.org"], check=True, capture_output=True)
    for i, url in enumerate(urls):
        subprocess.run(base + ["add", f"f{i}", url], check=True, capture_output=True)
    return base + ["run", "--no-send"]


def one_run(sources: list[dict], urls: list[str], total: int, env: dict, r2e: str | None) -> dict[str, Took]:
    """Every command of one run, in a fresh folder (fresh databases)."""
    out: dict[str, Took] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cfg, one = tmp / "settings.yaml", tmp / "one.yaml"
        newswatch_settings(cfg, sources)
        newswatch_settings(one, sources[:1], db="one.db")
        once = newswatch_cmd() + ["--config", str(cfg), "once"]
        out["nw"] = checked(timed(once, tmp, env), "newswatch once")
        stored = stored_items(tmp)
        assert stored == total, (stored, total, out["nw"].stdout[-1500:], out["nw"].stderr[-1500:])
        out["nw_idle"] = checked(timed(once, tmp, env), "newswatch once (idle)")
        one_cmd = newswatch_cmd() + ["--config", str(one), "once"]
        checked(timed(one_cmd, tmp, env), "newswatch once, one feed (first)")
        out["nw_one"] = checked(timed(one_cmd, tmp, env), "newswatch once, one feed")
        if r2e:
            run = r2e_setup(r2e, tmp, "r2e", urls)
            out["r2e"] = checked(timed(run, tmp), "r2e run")
            out["r2e_idle"] = checked(timed(run, tmp), "r2e run (idle)")
            run_one = r2e_setup(r2e, tmp, "one", urls[:1])
            checked(timed(run_one, tmp), "r2e run, one feed (first)")
            out["r2e_one"] = checked(timed(run_one, tmp), "r2e run, one feed")
    return out


def first_cycle_peak(sources: list[dict], total: int, env: dict) -> Took:
    """`newswatch once` on these feeds from an empty database: everything is new."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cfg = tmp / "settings.yaml"
        newswatch_settings(cfg, sources)
        took = checked(timed(newswatch_cmd() + ["--config", str(cfg), "once"], tmp, env), "newswatch once (peak)")
        stored = stored_items(tmp)
        assert stored == total, (stored, total, took.stdout[-1500:], took.stderr[-1500:])
        return took


def med(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], unit: str = "", digits: int = 2) -> str:
    return "" if len(values) < 2 else f"  [runs: {', '.join(f'{v:.{digits}f}{unit}' for v in values)}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--runs", type=int, default=1, help="runs; each figure is the median")
    ap.add_argument("--peak-feeds", type=int, default=TARGETS["peak_feeds"],
                    help="feeds of the first cycle whose peak RSS is held to the target (0: skip)")
    args = ap.parse_args()
    byte_compile()
    texts = Texts()
    servers = [SiteServer(host=f"127.0.0.{h + 1}").start() for h in range(HOSTS)]
    env = {k: v for k, v in os.environ.items() if k != "NEWSWATCH_CONFIG"}
    r2e = find_r2e()
    runs: list[dict[str, Took]] = []
    fp_cpu: list[float] = []
    peak: Took | None = None
    try:
        bodies, sources, urls = [], [], []
        for f in range(max(args.feeds, args.peak_feeds)):
            site = servers[f % HOSTS]
            body = rss_feed(site.base, f, args.items, texts)
            site.add(f"/f{f}/rss", body, "application/rss+xml")
            bodies.append(body)
            urls.append(f"{site.base}/f{f}/rss")
            sources.append({"id": f"feed-{f}", "kind": "feed", "url": urls[-1], "obey_robots": False,
                            "timezone": "Europe/Minsk", "follow": False})
        total = args.feeds * args.items
        mb = sum(map(len, bodies[:args.feeds])) / 1e6

        for r in range(args.runs):
            start = time.process_time()
            n = sum(len(feedparser.parse(b, sanitize_html=False, resolve_relative_uris=False).entries)
                    for b in bodies[:args.feeds])
            fp_cpu.append(time.process_time() - start)
            assert n == total
            runs.append(one_run(sources[:args.feeds], urls[:args.feeds], total, env, r2e))
            print(f"  run {r + 1}/{args.runs}: newswatch {runs[-1]['nw'].cpu:.2f} s CPU"
                  + (f", rss2email {runs[-1]['r2e'].cpu:.2f} s" if r2e else ""), file=sys.stderr, flush=True)
        if args.peak_feeds and args.peak_feeds != args.feeds:
            peak = first_cycle_peak(sources[:args.peak_feeds], args.peak_feeds * args.items, env)
    finally:
        for s in servers:
            s.stop()

    def figure(key: str, attr: str = "cpu") -> list[float]:
        return [getattr(r[key], attr) for r in runs]

    fp = med(fp_cpu)
    nw, nw_wall, nw_peak = med(figure("nw")), med(figure("nw", "wall")), med(figure("nw", "peak_mb"))
    idle, idle_wall = med(figure("nw_idle")), med(figure("nw_idle", "wall"))
    one, one_wall = med(figure("nw_one")), med(figure("nw_one", "wall"))
    if peak is not None:
        peak_feeds, peak_mb = args.peak_feeds, peak.peak_mb
    elif args.peak_feeds:
        peak_feeds, peak_mb = args.feeds, nw_peak
    else:
        peak_feeds, peak_mb = 0, 0.0
    t = TARGETS
    median_of = f", median of {args.runs} runs" if args.runs > 1 else ""
    print(f"ingest: {args.feeds} feeds × {args.items} items ({total:,} items, {mb:.1f} MB){median_of}, on {machine()}")
    print("CPU seconds of every process involved (wall seconds in brackets)")
    print(f"  feedparser alone            {fp:7.2f}           {total / fp:8,.0f} items/s{spread(fp_cpu)}")
    print(f"  newswatch once              {nw:7.2f} ({nw_wall:5.1f})   {total / nw:8,.0f} items/s   "
          f"{fp / nw:.2f}× feedparser's items/s (target ≥ {t['vs_feedparser']}×){spread(figure('nw'))}")
    print(f"  newswatch idle cycle (304s) {idle:7.2f} ({idle_wall:5.1f}){spread(figure('nw_idle'))}")
    print(f"  newswatch once, one feed    {one:7.2f} ({one_wall:5.1f})   unchanged{spread(figure('nw_one'))}")
    out = dict(feeds=args.feeds, items=args.items, runs=args.runs, items_per_s=round(total / nw),
               feedparser_items_per_s=round(total / fp), ratio=round(fp / nw, 3), cpu_s=round(nw, 2),
               feedparser_cpu_s=round(fp, 2), idle_cpu_s=round(idle, 2), one_feed_cpu_s=round(one, 2),
               first_peak_mb=round(nw_peak), peak_feeds=peak_feeds, peak_mb=round(peak_mb), r2e=bool(r2e))
    if r2e:
        r2, r2_wall, r2_peak = med(figure("r2e")), med(figure("r2e", "wall")), med(figure("r2e", "peak_mb"))
        r2_idle, r2_idle_wall = med(figure("r2e_idle")), med(figure("r2e_idle", "wall"))
        r2_one, r2_one_wall = med(figure("r2e_one")), med(figure("r2e_one", "wall"))
        print(f"  rss2email --no-send         {r2:7.2f} ({r2_wall:5.1f})   {total / r2:8,.0f} items/s   "
              f"newswatch is {r2 / nw:.2f}× as fast (target ≥ {t['vs_r2e']:g}×){spread(figure('r2e'))}")
        print(f"  rss2email idle cycle        {r2_idle:7.2f} ({r2_idle_wall:5.1f})   newswatch's takes "
              f"{idle / r2_idle:.2f}× its CPU (target ≤ {t['idle_vs_r2e']}×){spread(figure('r2e_idle'))}")
        print(f"  rss2email one feed          {r2_one:7.2f} ({r2_one_wall:5.1f})   newswatch's takes "
              f"{one / r2_one:.2f}× its CPU (target ≤ {t['one_vs_r2e']:g}×){spread(figure('r2e_one'))}")
        out.update(r2e_cpu_s=round(r2, 2), r2e_idle_cpu_s=round(r2_idle, 2), r2e_one_cpu_s=round(r2_one, 2),
                   r2e_ratio=round(r2 / nw, 3), idle_vs_r2e=round(idle / r2_idle, 3),
                   one_vs_r2e=round(one / r2_one, 3), r2e_peak_mb=round(r2_peak))
    else:
        print("  rss2email                   not installed: its figures are skipped")
    print("peak RSS of the largest process, first cycle (everything new)")
    print(f"  {f'newswatch once, {args.feeds:,} feeds':<28}{nw_peak:7.0f} MB{spread(figure('nw', 'peak_mb'), ' MB', 0)}")
    if r2e:
        print(f"  {f'rss2email, {args.feeds:,} feeds':<28}{r2_peak:7.0f} MB{spread(figure('r2e', 'peak_mb'), ' MB', 0)}")
    if peak is not None:
        print(f"  {f'newswatch once, {peak_feeds:,} feeds':<28}{peak_mb:7.0f} MB   ({peak.cpu:.1f} s CPU, "
              f"{peak_feeds * args.items / peak.cpu:,.0f} items/s, {peak.wall:.1f} s wall)")
    print(f"targets: ≥ {t['vs_feedparser']}× feedparser; ≥ {t['vs_r2e']:g}× rss2email; idle ≤ {t['idle_vs_r2e']}× "
          f"rss2email's; one feed ≤ {t['one_vs_r2e']:g}× rss2email's; peak RSS ≤ {t['peak_mb']} MB at "
          f"{t['peak_feeds']:,} feeds")
    emit("ingest", **out)


if __name__ == "__main__":
    main()
