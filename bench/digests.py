"""Digests: 1,000 subscribers × 200 matched items, each digest built (query, fold
duplicate stories, render text and HTML) and written to the outbox. Milliseconds per digest.

The store holds the matched items of the shipped topics (news text from bench/data, on the
shipped sources); the subscribers get `immediate` digests of the three topics, so every one
is due. The time is that of the delivery step `newswatch digest` runs
(`scheduler.cycle.deliver`: plan, build, render, claim, write, record), timed in-process
so that start-up is not counted. A second group of subscribers, each in a time zone of its
own, cannot share a rendering: their digests show what rendering costs when nothing is shared.

    python bench/digests.py [--subscribers 1000] [--items 200] [--distinct 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import available_timezones

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Texts, emit, machine  # noqa: E402
from newswatch.alerts.digest_send import DigestStatus  # noqa: E402
from newswatch.alerts.item_matching import item_fields  # noqa: E402
from newswatch.scheduler import cycle  # noqa: E402
from newswatch.scheduler.config import load_config  # noqa: E402
from newswatch.scheduler.runtime import Runtime  # noqa: E402
from newswatch.spiders.urls import canonical_url, identity_key  # noqa: E402
from newswatch.storage.rows import ItemRecord, StoredItem  # noqa: E402

TOPICS = ["belarus-iran", "belarus-china", "belarus-sco"]


def write_settings(path: Path, subscribers: list[dict]) -> None:
    """The shipped settings (sources, terms, topics) with these subscribers and an outbox."""
    yaml = YAML(typ="safe")
    settings = yaml.load((ROOT / "settings.yaml").read_text("utf-8"))
    settings["storage"] = {"url": "sqlite:///digests.db"}
    settings["subscribers"] = subscribers
    settings["operators"] = []
    settings["email"] = {**settings.get("email", {}), "transport": "outbox", "outbox_dir": "outbox"}
    with path.open("w", encoding="utf-8") as fh:
        YAML().dump(settings, fh)


def fill(rt: Runtime, wanted: int, texts: Texts) -> int:
    """Store items until ``wanted`` of them match a topic (only those are stored); match them."""
    sources = rt.cfg.settings.sources
    records, n = [], 0
    while len(records) < wanted:
        title, text = texts.item(2)
        src = sources[n % len(sources)]
        # the corpus has 165 articles: number each so that every item is one of its own
        url = canonical_url(f"https://{src.host}/news/{n}")
        rec = ItemRecord(source_id=src.id, url=url, url_key=identity_key(url, True), title=f"{title} ({n})",
                         summary=f"Report {n}. {text}", language=src.language, first_seen=datetime.now(timezone.utc))
        n += 1
        probe = StoredItem(0, rec.source_id, rec.url, rec.title, rec.summary, rec.body, rec.language, None, None,
                           True, datetime.now(timezone.utc))
        if rt.matcher.match(item_fields(probe)):
            records.append(rec)
    rt.crawl_repo.upsert_items(records)
    return cycle.match_new(rt).matched


def deliver(rt: Runtime) -> tuple[float, list]:
    start = time.perf_counter()
    results = cycle.deliver(rt)
    return time.perf_counter() - start, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--distinct", type=int, default=100,
                    help="also time this many subscribers whose digests cannot share a rendering")
    args = ap.parse_args()
    zones = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("posix/", "right/")))
    if args.distinct > len(zones):
        raise SystemExit(f"--distinct: at most {len(zones)} (one time zone each)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        shared = [{"name": f"analyst{i}", "email": f"a{i}@example.org", "topics": TOPICS, "digest": "immediate",
                   "timezone": "Europe/Minsk"} for i in range(args.subscribers)]
        # each in a time zone of its own, topics in one of three orders: no two digests alike
        solo = [{"name": f"solo{i}", "email": f"s{i}@example.org", "topics": TOPICS[i % 3:] + TOPICS[:i % 3],
                 "digest": "immediate", "timezone": zones[i]} for i in range(args.distinct)]
        first, second = tmp / "settings.yaml", tmp / "solo.yaml"
        write_settings(first, shared)
        write_settings(second, solo)
        with Runtime(load_config(first, environ={})) as rt:
            matched = fill(rt, args.items, Texts(seed=5))
            took, results = deliver(rt)
            rt.update(load_config(second, environ={}))
            solo_took, solo_results = deliver(rt) if solo else (0.0, [])
        outbox = list((tmp / "outbox").glob("*.eml"))
        files = len(outbox)
        size = sum(p.stat().st_size for p in outbox) / max(1, files)
    sent = [r for r in results + solo_results if r.status is DigestStatus.SENT]
    assert matched == args.items, (matched, args.items)
    assert files == len(sent) == args.subscribers + args.distinct, (files, len(sent), results[:3])
    per = took / args.subscribers * 1000
    solo_per = solo_took / max(1, args.distinct) * 1000
    shown = sum(r.items for r in results) / max(1, len(results))
    print(f"digests: {args.subscribers} subscribers × {args.items} matched items on {machine()}")
    print(f"  {per:.1f} ms per digest (planned, built, rendered as text + HTML, claimed, written to the outbox, "
          f"recorded; {shown:.0f} items and {size / 1024:.0f} KB each)")
    print(f"  {solo_per:.1f} ms per digest for {args.distinct} subscribers whose digests cannot share a rendering")
    print("target: < 20 ms per digest")
    emit("digests", ms_per_digest=round(per, 1), ms_per_unshared_digest=round(solo_per, 1),
         subscribers=args.subscribers, items=args.items)


if __name__ == "__main__":
    main()
