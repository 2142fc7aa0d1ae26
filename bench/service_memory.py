"""Memory of `newswatch run` at 1-second intervals: resident memory of the service, sampled
every few seconds for --minutes, while local feeds gain two new items per request and an
immediate subscriber is mailed through a local SMTP server (aiosmtpd).

Prints the RSS after the first minute, at the middle and at the end, the growth from the
first minute to the end, and the number of crawls, items and mails.

    python bench/service_memory.py [--minutes 10] [--sources 4]
"""

from __future__ import annotations

import argparse
import os
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

from bench.common import machine, newswatch_cmd  # noqa: E402
from newswatch.scheduler.sample_site import SiteServer  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Counter:
    def __init__(self) -> None:
        self.mails = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.mails += 1
        return "250 OK"


class RollingFeed:
    """The feed shows its 30 latest items; two new ones appear every second."""

    def __init__(self, site: SiteServer, n: int):
        self.site, self.n, self.calls = site, n, 0
        self.stopped = threading.Event()
        self.publish()
        threading.Thread(target=self.roll, daemon=True).start()

    def roll(self) -> None:
        while not self.stopped.wait(1.0):
            self.publish()

    def publish(self) -> None:
        self.calls += 1
        top = 2 * self.calls
        items = "".join(
            f"<item><title>Belarus news {self.n}-{i}</title><link>{{base}}/f{self.n}/{i}</link>"
            f"<guid>f{self.n}-{i}</guid><description>{escape(f'Minsk report number {i} of feed {self.n}.')}"
            f"</description></item>" for i in range(top, max(0, top - 30), -1))
        self.site.add(f"/f{self.n}.xml", f'<?xml version="1.0"?><rss version="2.0"><channel><title>f</title>'
                      f"<link>{{base}}/</link><description>d</description>{items}</channel></rss>",
                      "application/rss+xml")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--sources", type=int, default=4)
    ap.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    args = ap.parse_args()
    site = SiteServer().start()
    feeds = [RollingFeed(site, n) for n in range(args.sources)]
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
terms:
  belarus: [Belarus, Minsk]
topics:
  - {{id: belarus, all: [belarus]}}
subscribers:
  - {{name: desk, email: desk@example.org, topics: [belarus], digest: immediate}}
email:
  from: "newswatch <nw@example.org>"
  transport: smtp
  smtp: {{host: 127.0.0.1, port: {port}}}
""")
    env = {k: v for k, v in os.environ.items() if k != "NEWSWATCH_CONFIG"}
    proc = subprocess.Popen(newswatch_cmd() + ["--config", str(folder / "settings.yaml"), "run"],
                            stdout=subprocess.DEVNULL, stderr=(folder / "run.log").open("wb"), env=env, cwd=folder)
    print(f"service memory — newswatch run, {args.sources} feeds at 1 s intervals, {args.minutes:g} min")
    print(f"machine: {machine()}")
    samples: list[tuple[float, float]] = []
    start = time.monotonic()
    try:
        while time.monotonic() - start < args.minutes * 60:
            time.sleep(args.every)
            if proc.poll() is not None:
                raise SystemExit(f"newswatch run stopped early; see {folder / 'run.log'}")
            samples.append((time.monotonic() - start, rss_mb(proc.pid)))
            if len(samples) % max(1, int(60 / args.every)) == 0:
                print(f"  {samples[-1][0] / 60:5.1f} min  RSS {samples[-1][1]:6.1f} MB", flush=True)
    finally:
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        stop_s = time.monotonic() - stopping
        smtp.stop()
        for f in feeds:
            f.stopped.set()
        site.stop()
    with sqlite3.connect(folder / "nw.db") as db:
        runs = db.execute("select count(*) from crawl_runs").fetchone()[0]
        items = db.execute("select count(*) from items").fetchone()[0]
    after_1 = next(mb for t, mb in samples if t >= 60)
    mid = samples[len(samples) // 2][1]
    end = samples[-1][1]
    print(f"RSS after 1 min {after_1:.1f} MB, at {samples[len(samples) // 2][0] / 60:.1f} min {mid:.1f} MB, "
          f"at the end {end:.1f} MB: growth {100 * (end - after_1) / after_1:+.1f} % from the first minute")
    print(f"crawls {runs}, items {items}, mails {box.mails}, SIGTERM to exit {stop_s:.1f} s, "
          f"tracebacks in the log: {(folder / 'run.log').read_text().count('Traceback')}")


if __name__ == "__main__":
    main()
