"""``items`` and ``sources``: what is stored, and how each source is doing."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any, Optional

from newswatch.alerts.evidence import Evidence
from newswatch.scheduler import cycle
from newswatch.scheduler.commands.common import (
    EXIT_FAILED,
    EXIT_OK,
    Formatter,
    UsageError,
    config,
    runtime,
    since,
    zone,
)
from newswatch.storage.rows import StoredItem


def _iso(dt: Optional[datetime]) -> Optional[str]:
    return dt.isoformat() if dt else None


def item_json(item: StoredItem, matches: list[tuple[str, float, Evidence]]) -> dict[str, Any]:
    return {"id": item.id, "source": item.source_id, "title": item.title, "url": item.url,
            "published": _iso(item.published), "published_guessed": item.published_guessed,
            "language": item.language, "first_seen": _iso(item.first_seen),
            "matches": [{"topic": t, "score": s, "terms": list(ev.terms), "where": ev.where,
                         "hits": [h.to_json() for h in ev.hits], "snippet": ev.snippet.to_json(),
                         "rules_version": ev.rules_version} for t, s, ev in matches]}


def cmd_items(args: argparse.Namespace) -> int:
    cfg = config(args)
    if args.topic and args.topic not in cfg.topics:
        raise UsageError(f"unknown topic '{args.topic}'; known: {', '.join(cfg.topics)}")
    tz = zone(args.timezone)
    since_at = since(args.since)
    topic_ids = [args.topic] if args.topic else list(cfg.topics)
    rows: dict[int, tuple[StoredItem, list[tuple[str, float, Evidence]]]] = {}
    with runtime(args, cfg) as rt:
        for m in rt.alerts_repo.matches_for(topic_ids, since=since_at):
            rows.setdefault(m.item.id, (m.item, []))[1].append((m.topic_id, m.score, Evidence.from_json(m.evidence)))
        if args.all and not args.topic:
            for item in rt.alerts_repo.iter_items():
                if since_at is None or item.when >= since_at:
                    rows.setdefault(item.id, (item, []))
    ordered = sorted(rows.values(), key=lambda r: r[0].when, reverse=True)[: args.limit]
    if args.json:
        for item, matches in ordered:
            print(json.dumps(item_json(item, matches), ensure_ascii=False))
        return EXIT_OK
    label = getattr(tz, "key", str(tz))
    for item, matches in ordered:
        when = item.when.astimezone(tz).strftime("%Y-%m-%d %H:%M") + ("*" if item.published_guessed else "")
        print(f"{when} {label}  {item.source_id}  {item.title[:120]}")
        print(f"    {item.url}")
        for topic, score, ev in matches:
            print(f"    {topic} ({score}): {', '.join(ev.terms)}")
            print(f"      {ev.snippet.terminal(False)[:300]}")
    if not ordered:
        print("no items" + (f" for topic {args.topic}" if args.topic else "") +
              (f" dated within the last {args.since}" if args.since else ""))
    elif any(item.published_guessed for item, _ in ordered):
        print("* no date on the page: the time it was first seen")
    return EXIT_OK


def cmd_sources(args: argparse.Namespace) -> int:
    tz = zone(args.timezone)
    with runtime(args) as rt:
        rows = cycle.health(rt)
    if args.json:
        for h in rows:
            print(json.dumps({"id": h.source_id, "name": h.name, "state": h.state, "last_run": _iso(h.last_run),
                              "last_success": _iso(h.last_success), "items": h.items,
                              "consecutive_failures": h.consecutive_failures, "failing_since": _iso(h.failing_since),
                              "last_error": h.last_error, "http_status": h.http_status,
                              "last_item_seen": _iso(h.last_item_seen)}, ensure_ascii=False))
        return EXIT_OK
    label = getattr(tz, "key", str(tz))
    fmt = lambda dt: dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else "-"  # noqa: E731
    print(f"{'SOURCE':<20} {'STATE':<9} {'LAST SUCCESS (' + label + ')':<24} {'ITEMS':>6} {'FAILS':>5}  LAST ERROR")
    for h in rows:
        print(f"{h.source_id:<20} {h.state.upper() if h.failing else h.state:<9} {fmt(h.last_success):<24} "
              f"{h.items:>6} {h.consecutive_failures:>5}  {h.last_error or ''}")
    return EXIT_FAILED if any(h.failing for h in rows) else EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("items", help="stored items and their matches, with the evidence", formatter_class=Formatter,
                       description="List stored items that matched a topic, newest first, with the terms that\n"
                                   "decided each match. Times are shown in --timezone.")
    c.add_argument("--topic", metavar="ID", help="only this topic")
    c.add_argument("--since", metavar="AGE", help="only items dated within this period, e.g. 7d, 12h")
    c.add_argument("--all", action="store_true", help="also items that matched no topic")
    c.add_argument("--json", action="store_true", help="one JSON object per item, with match evidence")
    c.add_argument("--limit", type=int, default=100, help="items listed at most")
    c.add_argument("--timezone", default="UTC", metavar="ZONE", help="show times in this IANA zone")
    c.set_defaults(func=cmd_items)

    c = sub.add_parser("sources", help="per-source health", formatter_class=Formatter,
                       description="Per-source health: state, last success, items, consecutive failures, last\n"
                                   "error. Exit 1 when a source is failing.")
    c.add_argument("--json", action="store_true", help="one JSON object per source")
    c.add_argument("--timezone", default="UTC", metavar="ZONE", help="show times in this IANA zone")
    c.set_defaults(func=cmd_sources)
