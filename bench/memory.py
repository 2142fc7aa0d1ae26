"""Memory: `newswatch run` over 500 crawl cycles against a local site whose feeds gain
new items every cycle; resident memory of the service at cycle 50 and at cycle 500, and
the peak (the crawl children are measured too).

    python bench/memory.py [--cycles 500] [--sources 4]
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Texts, emit, machine  # noqa: E402
from ingest import newswatch_cmd  # noqa: E402

from scheduler.sample_site import SiteServer  # noqa: E402


def rss_kb(pid: int, field: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    """Children of every thread of the process (crawls are started from job threads)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


class RollingFeeds:
    """Each request of a feed shows its 50 latest items; 2 new ones appear per request."""

    def __init__(self, site: SiteServer, n: int, texts: Texts):
        self.site, self.n, self.texts, self.calls = site, n, texts, [0] * n
        self.titles = [r["title"] for r in texts.rows]
        self.ledes = [r["lede"] for r in texts.rows]
        self.lock = threading.Lock()
        for f in range(n):
            self.refresh(f)

    def refresh(self, f: int) -> None:
        first = self.calls[f] * 2
        items = "".join(
            f"<item><title>{escape(self.titles[(k + f) % len(self.titles)])} ({k})</title>"
            f"<link>{self.site.base}/f{f}/news/{k}</link><guid>f{f}-{k}</guid>"
            f"<description>{escape(self.ledes[(k * 7 + f) % len(self.ledes)])}</description></item>"
            for k in range(first + 49, first - 1, -1))
        body = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>feed {f}</title>'
                f"<link>{self.site.base}/</link><description>x</description>{items}</channel></rss>")
        self.site.add(f"/f{f}/rss", body, "application/rss+xml")

    def tick(self) -> None:
        seen = [sum(1 for r in self.site.requests if r["path"] == f"/f{f}/rss") for f in range(self.n)]
        with self.lock:
            for f in range(self.n):
                if seen[f] != self.calls[f]:
                    self.calls[f] = seen[f]
                    self.refresh(f)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=500)
    ap.add_argument("--sources", type=int, default=4)
    args = ap.parse_args()
    texts = Texts(seed=9)
    with SiteServer() as site, tempfile.TemporaryDirectory() as tmp:
        feeds = RollingFeeds(site, args.sources, texts)
        sources = "\n".join(f'  - {{id: feed-{f}, kind: feed, url: "{site.base}/f{f}/rss", obey_robots: false}}'
                            for f in range(args.sources))
        cfg = Path(tmp) / "settings.yaml"
        shipped = Path(__file__).resolve().parent.parent / "settings.yaml"
        terms_topics = shipped.read_text("utf-8").split("\nterms:", 1)[1].split("\nsubscribers:", 1)[0]
        cfg.write_text(f"""storage: {{url: "sqlite:///mem.db"}}
crawl: {{delay: 0s, retries: 0, timeout: 10s, interval: 1s, autothrottle: false, processes: 1}}
sources:
{sources}
terms:{terms_topics}
subscribers:
  - {{name: desk, email: desk@example.org, topics: [belarus-iran, belarus-china, belarus-sco], digest: immediate}}
email: {{transport: outbox, outbox_dir: outbox}}
""")
        proc = subprocess.Popen(newswatch_cmd() + ["--config", str(cfg), "run"], stdout=subprocess.DEVNULL,
                                stderr=open(Path(tmp) / "run.log", "wb"), cwd=tmp)
        db = Path(tmp) / "mem.db"
        marks, child_peak, started = {}, 0.0, time.monotonic()
        try:
            cycles = 0
            while cycles < args.cycles and proc.poll() is None:
                time.sleep(0.2)
                feeds.tick()
                for c in children(proc.pid):
                    child_peak = max(child_peak, rss_kb(c, "VmHWM"), rss_kb(c))
                try:
                    with sqlite3.connect(db, timeout=5) as conn:
                        cycles = conn.execute("select count(*) from crawl_runs").fetchone()[0]
                except sqlite3.Error:
                    continue
                for mark in (50, args.cycles):
                    if cycles >= mark and mark not in marks:
                        marks[mark] = rss_kb(proc.pid)
                        print(f"  cycle {cycles}: service RSS {marks[mark]:.0f} MB after {time.monotonic() - started:.0f}s",
                              file=sys.stderr)
            peak = rss_kb(proc.pid, "VmHWM")
            with sqlite3.connect(db) as conn:
                stored = conn.execute("select count(*) from items").fetchone()[0]
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    at50, at_end = marks.get(50, 0.0), marks.get(args.cycles, 0.0)
    growth = (at_end - at50) / at50 * 100 if at50 else float("nan")
    print(f"memory: `newswatch run`, {args.sources} feeds polled every second, {args.cycles} crawl cycles, "
          f"{stored} items stored, on {machine()}")
    print(f"  service RSS at cycle 50: {at50:.0f} MB, at cycle {args.cycles}: {at_end:.0f} MB "
          f"(growth {growth:+.1f}%); service peak {peak:.0f} MB; crawl child peak {child_peak:.0f} MB")
    emit("memory", rss_50_mb=round(at50), rss_end_mb=round(at_end), growth_pct=round(growth, 1),
         peak_mb=round(max(peak, child_peak)), service_peak_mb=round(peak), child_peak_mb=round(child_peak))


if __name__ == "__main__":
    main()
