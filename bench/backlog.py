"""A digest over a large undelivered backlog, in bounded memory:

* a store holding N matched items (default 50,000, news text of bench/data, 1–2 KB each)
  for one subscriber's three topics, none delivered yet;
* `newswatch digest` (a separate process, the outbox transport): its peak resident memory
  (the kernel's account, wait4) and CPU time; the digest shows at most email.max_per_topic
  stories per topic and counts the rest under "N more".

    python bench/backlog.py [--items 50000]

Target: peak RSS ≤ 150 MB with a 50,000-match backlog.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Texts, emit, machine, newswatch_cmd  # noqa: E402
from newswatch.storage.alerts_repo import AlertsRepository, NewMatch  # noqa: E402
from newswatch.storage.crawl_repo import CrawlRepository  # noqa: E402
from newswatch.storage.engine import Database  # noqa: E402
from newswatch.storage.rows import ItemRecord  # noqa: E402

TOPICS = ["belarus-iran", "belarus-china", "belarus-sco"]
SETTINGS = """
storage: {{url: "sqlite:///backlog.db"}}
sources:
  - {{id: wire, kind: feed, url: "https://example.org/rss"}}
terms:
  belarus: [Belarus]
  iran: [Iran]
  china: [China]
  sco: [SCO]
topics:
  - {{id: belarus-iran, all: [belarus, iran]}}
  - {{id: belarus-china, all: [belarus, china]}}
  - {{id: belarus-sco, all: [belarus, sco]}}
subscribers:
  - {{name: desk, email: desk@example.org, topics: [{topics}], digest: immediate}}
email:
  from: "newswatch <nw@example.org>"
  transport: outbox
  outbox_dir: outbox
"""


def fill(folder: Path, n: int) -> float:
    db = Database(f"sqlite:///{folder / 'backlog.db'}")
    crawl, alerts = CrawlRepository(db), AlertsRepository(db)
    texts = Texts()
    now = datetime.now(timezone.utc)
    started = time.perf_counter()
    for start in range(0, n, 1000):
        records = []
        for i in range(start, min(n, start + 1000)):
            title, text = texts.item(3)
            records.append(ItemRecord("wire", f"https://example.org/{i}", f"example.org/{i}", f"{title} ({i})",
                                      summary=text[:300], body=text, guid=str(i),
                                      published=now - timedelta(minutes=i), first_seen=now - timedelta(minutes=i)))
        outcomes = crawl.upsert_items(records)
        batch = []
        for j, o in enumerate(outcomes):
            topic = TOPICS[(start + j) % 3]
            evidence = {"topic": topic, "score": 1.0, "terms": ["Belarus"], "hits": [],
                        "snippet": {"field": "title", "text": records[j].title, "highlights": [[0, 7]]},
                        "rules_version": "bench", "where": "title"}
            batch.append((o.item_id, [NewMatch(topic, 1.0 + (j % 7) / 10, evidence)]))
        alerts.save_matches(batch, "bench")
    db.close()
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=50_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "settings.yaml").write_text(SETTINGS.format(topics=", ".join(TOPICS)))
        took = fill(tmp, args.items)
        cmd = newswatch_cmd() + ["--config", str(tmp / "settings.yaml"), "digest", "--now"]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        out = proc.stdout.read().decode() if proc.stdout else ""
        err = proc.stderr.read().decode() if proc.stderr else ""
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"digest failed:\n{out}\n{err}")
        emls = list((tmp / "outbox").glob("*.eml"))
        size = sum(p.stat().st_size for p in emls)
        peak = usage.ru_maxrss / 1024
        cpu = usage.ru_utime + usage.ru_stime
    print(f"backlog digest: {args.items:,} undelivered matches (store filled in {took:.0f} s), on {machine()}")
    print(f"  newswatch digest: peak RSS {peak:.0f} MB, {cpu:.2f} s CPU ({wall:.1f} s wall), "
          f"{len(emls)} message(s) of {size / 1024:.0f} KB")
    print(f"  {out.strip().splitlines()[-1] if out.strip() else ''}")
    print("target: peak RSS ≤ 150 MB with a 50,000-match backlog")
    emit("backlog", items=args.items, peak_mb=round(peak), cpu_s=round(cpu, 2), messages=len(emls),
         message_kb=round(size / 1024))


if __name__ == "__main__":
    main()
