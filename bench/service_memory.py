"""Memory of `newswatch run` at 1-second intervals: resident memory of the service, sampled
every few seconds for --minutes, while local feeds gain two new items every second (news
text from bench/data, matched against the shipped terms and topics) and an immediate
subscriber to the three shipped topics is mailed through a local SMTP server (aiosmtpd).

Prints the RSS after the first minute (--warmup), at the middle and at the end, the growth
from the first minute to the end, the peak (VmHWM) of the service and of any crawl child it
started, and the number of crawls, items and mails.

    python bench/service_memory.py [--minutes 10] [--sources 4] [--warmup 60]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from xml.sax.saxutils import escape

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Texts, emit, machine, newswatch_cmd, terms_and_topics  # noqa: E402
from newswatch.scheduler.sample_site import SiteServer  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """VmRSS (now) or VmHWM (the peak so far) of a process, in MB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(pid: int) -> list[int]:
    """Children of every thread of the process, and theirs (crawls start from job threads)."""
    out, todo = [], [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                kids = [int(p) for p in (task / "children").read_text().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


class Counter:
    def __init__(self) -> None:
        self.mails = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.mails += 1
        return "250 OK"


class RollingFeed:
    """The feed shows its 30 latest items; two new ones appear every second."""

    def __init__(self, site: SiteServer, n: int, texts: Texts):
        self.site, self.n, self.calls = site, n, 0
        self.rows = texts.rows
        self.stopped = threading.Event()
        self.publish()
        threading.Thread(target=self.roll, daemon=True).start()

    def roll(self) -> None:
        while not self.stopped.wait(1.0):
            self.publish()

    def item(self, i: int) -> str:
        row = self.rows[(i * 7 + self.n * 31) % len(self.rows)]
        # the corpus has 165 articles: number each so that every item is a story of its own
        title, text = f"{row['title']} ({self.n}-{i})", f"Report {self.n}-{i}. {row['summary']}"
        return (f"<item><title>{escape(title)}</title><link>{{base}}/f{self.n}/{i}</link>"
                f"<guid>f{self.n}-{i}</guid><description>{escape(text)}</description></item>")

    def publish(self) -> None:
        self.calls += 1
        top = 2 * self.calls
        items = "".join(self.item(i) for i in range(top, max(0, top - 30), -1))
        self.site.add(f"/f{self.n}.xml", f'<?xml version="1.0"?><rss version="2.0"><channel><title>f</title>'
                      f"<link>{{base}}/</link><description>d</description>{items}</channel></rss>",
                      "application/rss+xml")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--sources", type=int, default=4)
    ap.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    ap.add_argument("--warmup", type=float, default=60.0, help="seconds before the sample growth is measured from")
    args = ap.parse_args()
    if args.warmup >= args.minutes * 60:
        raise SystemExit("--warmup must be shorter than --minutes")
    site = SiteServer().start()
    feeds = [RollingFeed(site, n, Texts(seed=9)) for n in range(args.sources)]
    box = Counter()
    port = free_port()
    smtp = Controller(box, hostname="127.0.0.1", port=port)
    smtp.start()
    folder = Path(tempfile.mkdtemp(prefix="nw-mem-"))
    sources = "\n".join(f'  - {{id: f{n}, name: Feed {n}, kind: feed, url: "{site.base}/f{n}.xml", '
                        f"obey_robots: false}}" for n in range(args.sources))
    (folder / "settings.yaml").write_text(f"""
storage: {{url: "sqlite:///nw.db"}}
crawl: {{delay: 0s, retries: 0, timeout: 5s, interval: 1s, autothrottle: false}}
sources:
{sources}
{terms_and_topics()}
subscribers:
  - {{name: desk, email: desk@example.org, topics: [belarus-iran, belarus-china, belarus-sco], digest: immediate}}
email:
  from: "newswatch <nw@example.org>"
  transport: smtp
  smtp: {{host: 127.0.0.1, port: {port}}}
""", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "NEWSWATCH_CONFIG"}
    proc = subprocess.Popen(newswatch_cmd() + ["--config", str(folder / "settings.yaml"), "run"],
                            stdout=subprocess.DEVNULL, stderr=(folder / "run.log").open("wb"), env=env, cwd=folder)
    print(f"service memory — newswatch run, {args.sources} feeds at 1 s intervals, {args.minutes:g} min")
    print(f"machine: {machine()}")
    samples: list[tuple[float, float]] = []
    peak = child_peak = 0.0
    start = time.monotonic()
    try:
        while time.monotonic() - start < args.minutes * 60:
            time.sleep(args.every)
            if proc.poll() is not None:
                raise SystemExit(f"newswatch run stopped early; see {folder / 'run.log'}")
            samples.append((time.monotonic() - start, rss_mb(proc.pid)))
            peak = max(peak, rss_mb(proc.pid, "VmHWM"))
            for child in descendants(proc.pid):
                child_peak = max(child_peak, rss_mb(child, "VmHWM"))
            if len(samples) % max(1, int(60 / args.every)) == 0:
                print(f"  {samples[-1][0] / 60:5.1f} min  RSS {samples[-1][1]:6.1f} MB", flush=True)
    finally:
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stop_s = time.monotonic() - stopping
        smtp.stop()
        for f in feeds:
            f.stopped.set()
        site.stop()
    with sqlite3.connect(folder / "nw.db") as db:
        runs = db.execute("select count(*) from crawl_runs").fetchone()[0]
        items = db.execute("select count(*) from items").fetchone()[0]
    tracebacks = (folder / "run.log").read_text(errors="replace").count("Traceback")
    shutil.rmtree(folder, ignore_errors=True)
    warm_t, after_1 = next((t, mb) for t, mb in samples if t >= args.warmup)
    mid_t, mid = samples[len(samples) // 2]
    end_t, end = samples[-1]
    growth = 100 * (end - after_1) / after_1
    print(f"RSS after {warm_t / 60:.1f} min {after_1:.1f} MB, at {mid_t / 60:.1f} min {mid:.1f} MB, "
          f"at {end_t / 60:.1f} min {end:.1f} MB: growth {growth:+.1f} % from the first sample after {args.warmup:g} s")
    print(f"peak RSS (VmHWM): service {peak:.1f} MB, crawl children {child_peak:.1f} MB"
          + ("" if child_peak else " (none was started: plain feeds are read in the service)"))
    print(f"crawls {runs}, items {items}, mails {box.mails}, SIGTERM to exit {stop_s:.1f} s, "
          f"tracebacks in the log: {tracebacks}")
    print("targets: growth < 10 % from the first minute to the end; peak < 300 MB")
    emit("service_memory", minutes=args.minutes, warmup_s=args.warmup, rss_warm_mb=round(after_1, 1),
         rss_end_mb=round(end, 1), growth_pct=round(growth, 1), peak_mb=round(max(peak, child_peak), 1),
         service_peak_mb=round(peak, 1), child_peak_mb=round(child_peak, 1), crawls=runs, items=items,
         mails=box.mails, tracebacks=tracebacks)


if __name__ == "__main__":
    main()
