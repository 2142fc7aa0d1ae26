"""Digests: 1,000 subscribers × 200 matched items, each digest built (query, fold
duplicate stories, render text and HTML) and written to the outbox. Milliseconds per digest.

    python bench/digests.py [--subscribers 1000] [--items 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alerts.delivery import EmailSettings, OutboxTransport  # noqa: E402
from alerts.dispatch import dispatch  # noqa: E402
from alerts.matching import match_stored  # noqa: E402
from common import ROOT, Texts, emit, machine  # noqa: E402
from spiders.items import NewsItem  # noqa: E402
from spiders.store import Store  # noqa: E402

from alerts.digest import Subscription  # noqa: E402
from alerts.matcher import Matcher  # noqa: E402
from scheduler.config import load_config  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--distinct", type=int, default=100,
                    help="also time this many subscribers whose digests cannot share a rendering")
    args = ap.parse_args()
    cfg = load_config(ROOT / "settings.yaml", environ={})
    topics = cfg.topics
    texts = Texts(seed=5)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/d.db")
        sources = cfg.settings.sources
        matched = 0
        n = 0
        while matched < args.items:
            title, text = texts.item(2)
            src = sources[n % len(sources)]
            store.upsert_item(NewsItem(source_id=src.id, url=f"https://{src.host}/news/{n}", title=title, summary=text,
                                       first_seen=datetime.now(timezone.utc)))
            n += 1
            match_stored(store, Matcher(cfg.rulebook))
            matched = store.count_matched_items()
        subs = [Subscription(name=f"analyst{i}", email=f"a{i}@example.org", topics=list(topics), digest="immediate",
                             timezone="Europe/Minsk") for i in range(args.subscribers)]
        email = EmailSettings(transport="outbox", outbox_dir=f"{tmp}/outbox")
        transport = OutboxTransport(email.outbox_dir)
        start = time.perf_counter()
        results = dispatch(store, subs, topics, list(sources), email, transport)
        took = time.perf_counter() - start
        # subscribers in different time zones: no two digests are alike, nothing is shared
        zones = ["Europe/Minsk", "Asia/Tehran", "Asia/Shanghai", "UTC", "Europe/Berlin"]
        solo = [Subscription(name=f"solo{i}", email=f"s{i}@example.org", topics=list(topics)[i % 3:] + list(topics)[:i % 3],
                             digest="immediate", timezone=f"Etc/GMT{'+' if i % 2 else '-'}{i % 12}" if i % 5 else zones[i % 5])
                for i in range(args.distinct)]
        start = time.perf_counter()
        dispatch(store, solo, topics, list(sources), email, transport)
        solo_took = time.perf_counter() - start
        files = len(list(Path(email.outbox_dir).glob("*.eml")))
        size = sum(p.stat().st_size for p in Path(email.outbox_dir).glob("*.eml")) / files
        store.close()
    assert files == args.subscribers + args.distinct and all(r.status == "sent" for r in results)
    per = took / args.subscribers * 1000
    solo_per = solo_took / max(1, args.distinct) * 1000
    print(f"digests: {args.subscribers} subscribers × {args.items} matched items on {machine()}")
    print(f"  {per:.1f} ms per digest (built, rendered as text + HTML, written to the outbox; {size / 1024:.0f} KB each)")
    print(f"  {solo_per:.1f} ms per digest when no two subscribers share topics, order and time zone")
    emit("digests", ms_per_digest=round(per, 1), ms_per_unshared_digest=round(solo_per, 1))


if __name__ == "__main__":
    main()
