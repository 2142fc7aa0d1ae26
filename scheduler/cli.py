"""The ``newswatch`` command line. The one place that turns errors into a one-line
message and an exit code: 0 fine, 1 work failed, 2 bad settings or usage."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from alerts.errors import AlertsError
from alerts.matcher import Matcher
from alerts.matching import item_fields, match_stored
from scheduler import cycle
from scheduler.config import Config, ConfigError, load_config, parse_settings
from spiders.durations import parse_duration
from spiders.logformat import JsonFormatter
from spiders.store import Store

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


def _since(text: Optional[str]) -> Optional[datetime]:
    if not text:
        return None
    try:
        return datetime.now(timezone.utc) - parse_duration(text)
    except ValueError as exc:
        raise SystemExit(_usage(str(exc)))


def _usage(msg: str) -> int:
    _err(f"newswatch: {msg}")
    return EXIT_CONFIG


def _config(args) -> Config:
    return load_config(args.config)


# ---- commands -----------------------------------------------------------------------------
def cmd_check(args) -> int:
    cfg = _config(args)
    s = cfg.settings
    print(f"{cfg.path}: OK — {len(s.sources)} sources, {len(s.terms)} term lists, {len(s.topics)} topics, "
          f"{len(s.subscribers)} subscribers; rules version {cfg.rulebook.version}; "
          f"email via {s.email.transport}; storage {cfg.storage_url}")
    for w in cfg.warnings:
        print(f"warning: {w}")
    return EXIT_OK


def cmd_crawl(args) -> int:
    cfg = _config(args)
    sources = cfg.sources
    if args.source_ids:
        known = {s.id: s for s in cfg.settings.sources}
        unknown = [i for i in args.source_ids if i not in known]
        if unknown:
            return _usage(f"unknown source id(s): {', '.join(unknown)}; see 'newswatch sources'")
        sources = [known[i] for i in args.source_ids]
    store = Store(cfg.storage_url)
    try:
        results, stats = cycle.crawl_and_match(cfg, store, sources, progress=print, verbose=args.verbose)
    finally:
        store.close()
    failed = [r for r in results if r["status"] == "failed"]
    new = sum(r["items_new"] for r in results)
    print(f"crawled {len(results)} source(s): {len(results) - len(failed)} ok, {len(failed)} failed; "
          f"{new} new item(s); {stats.matched} of {stats.items} item(s) matched a topic")
    return EXIT_FAILED if failed and len(failed) == len(results) else EXIT_OK


def _read_inputs(args) -> list[tuple[str, str]]:
    """(label, text) pairs from --text, files or standard input."""
    if args.text is not None:
        return [("--text", args.text)]
    inputs = []
    for name in args.files or ["-"]:
        if name == "-":
            inputs.append(("stdin", sys.stdin.read()))
        else:
            try:
                inputs.append((name, Path(name).read_text(encoding="utf-8", errors="replace")))
            except OSError as exc:
                raise SystemExit(_usage(f"cannot read {name}: {exc.strerror}"))
    return inputs


def _fields_of(line: str) -> dict:
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
            if isinstance(obj, dict):
                return {k: str(obj.get(k) or "") for k in ("title", "summary", "body") if obj.get(k)} or {"text": ""}
        except json.JSONDecodeError:
            pass
    return {"text": line}


def _explain(fields: dict, found, use_color: bool) -> str:
    if not found:
        return "no topic matched"
    on, off = ("\033[1;33m", "\033[0m") if use_color else ("[", "]")
    out = []
    for m in found:
        ev = m.evidence
        confirmed = f"; confirmed by {', '.join(ev['context_terms'])}" if ev.get("context_terms") else ""
        out.append(f"✔ {m.topic_id} (score {ev['score']}): matched {', '.join(ev['terms'])}{confirmed}")
        snip = ev["snippet"]
        text, pos, parts = snip["text"], 0, []
        for s, e in snip["highlights"]:
            parts += [text[pos:s], on, text[s:e], off]
            pos = e
        parts.append(text[pos:])
        out.append(f"    {snip['field']}: {'…' if snip['before'] else ''}{''.join(parts)}{'…' if snip['after'] else ''}")
    return "\n".join(out)


def _hits_json(found) -> list[dict]:
    return [dict(h, topic=m.topic_id) for m in found for h in m.evidence["hits"]]


def cmd_match(args) -> int:
    cfg = _config(args)
    matcher = Matcher(cfg.rulebook)
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    for label, text in _read_inputs(args):
        items = text.splitlines() if args.lines else [text]
        for line in items:
            if args.lines and not line.strip():
                if args.json:
                    print(json.dumps({"topics": [], "hits": []}))
                continue
            fields = _fields_of(line) if args.lines else {"text": line}
            found = matcher.match(fields)
            if args.json:
                print(json.dumps({"topics": [m.topic_id for m in found], "hits": _hits_json(found)}, ensure_ascii=False))
            else:
                head = line.strip()[:100] if args.lines else label
                print(f"{head}\n  " + _explain(fields, found, color).replace("\n", "\n  "))
    return EXIT_OK


def cmd_digest(args) -> int:
    cfg = _config(args)
    if args.subscriber and args.subscriber not in {s.name for s in cfg.settings.subscribers}:
        return _usage(f"unknown subscriber '{args.subscriber}'")
    store = Store(cfg.storage_url)
    try:
        match_stored(store, Matcher(cfg.rulebook))
        results = cycle.deliver(cfg, store, only=args.subscriber, dry_run=args.dry_run, preview_dir=args.preview,
                                force=args.now)
    finally:
        store.close()
    for r in results:
        print(cycle.format_dispatch(r))
    return EXIT_FAILED if any(r.status == "failed" for r in results) else EXIT_OK


def cmd_once(args) -> int:
    cfg = _config(args)
    results, stats, sent = cycle.once(cfg, progress=print)
    failed = [r for r in results if r["status"] == "failed"]
    print(f"crawl: {len(results) - len(failed)} of {len(results)} source(s) ok; "
          f"{sum(r['items_new'] for r in results)} new item(s)")
    print(f"match: {stats.matched} of {stats.items} new item(s) matched a topic")
    for r in sent:
        print("digest: " + cycle.format_dispatch(r))
    return EXIT_FAILED if any(r.status == "failed" for r in sent) else EXIT_OK


def _item_row(item, topics: list[tuple[str, float, dict]]) -> dict:
    return {
        "id": item.id, "source": item.source_id, "title": item.title, "url": item.url,
        "published": item.published.isoformat() if item.published else None,
        "published_guessed": item.published_guessed, "language": item.language,
        "first_seen": item.first_seen.isoformat() if item.first_seen else None,
        "matches": [{"topic": t, "score": s, "terms": ev.get("terms"), "hits": ev.get("hits"),
                     "snippet": ev.get("snippet"), "rules_version": ev.get("rules_version")} for t, s, ev in topics],
    }


def cmd_items(args) -> int:
    cfg = _config(args)
    store = Store(cfg.storage_url)
    try:
        topic_ids = [args.topic] if args.topic else list(cfg.topics)
        if args.topic and args.topic not in cfg.topics:
            return _usage(f"unknown topic '{args.topic}'")
        since = _since(args.since)
        rows: dict[int, tuple] = {}
        for item, topic, score, ev in store.matches_for(topic_ids, since=since):
            rows.setdefault(item.id, (item, []))[1].append((topic, score, ev))
        if not args.topic and args.all:
            for item in store.iter_items(since=since):
                rows.setdefault(item.id, (item, []))
        ordered = sorted(rows.values(), key=lambda r: (r[0].published or r[0].first_seen), reverse=True)[: args.limit]
    finally:
        store.close()
    if args.json:
        for item, topics in ordered:
            print(json.dumps(_item_row(item, topics), ensure_ascii=False))
        return EXIT_OK
    for item, topics in ordered:
        when = item.published.strftime("%Y-%m-%d %H:%M") if item.published else "?"
        tags = ", ".join(f"{t} ({', '.join(ev.get('terms', [])[:4])})" for t, _, ev in topics) or "-"
        print(f"{when}  {item.source_id:<18} {item.title[:90]}\n{'':18}{item.url}\n{'':18}topics: {tags}")
    if not ordered:
        print("no items" + (f" for topic {args.topic}" if args.topic else "") + (f" in the last {args.since}" if args.since else ""))
    return EXIT_OK


def cmd_sources(args) -> int:
    cfg = _config(args)
    store = Store(cfg.storage_url)
    try:
        counts = store.item_count_by_source()
        rows = []
        for s in cfg.settings.sources:
            history = store.crawl_history(s.id, limit=100)
            last_ok = next((r for r in history if r.status in ("ok", "not_modified")), None)
            fails = 0
            for r in history:
                if r.status != "failed":
                    break
                fails += 1
            last = history[0] if history else None
            state = "never crawled" if not last else ("FAILING" if last.status == "failed" else "ok")
            if not s.enabled:
                state = "disabled"
            rows.append({"id": s.id, "state": state, "last_success": last_ok.finished_at.isoformat() if last_ok else None,
                         "last_run": last.finished_at.isoformat() if last else None, "items": counts.get(s.id, 0),
                         "consecutive_failures": fails, "last_error": last.error if last and last.status == "failed" else None,
                         "http_status": last.http_status if last else None})
    finally:
        store.close()
    if args.json:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return EXIT_OK
    print(f"{'SOURCE':<20} {'STATE':<13} {'LAST SUCCESS':<17} {'ITEMS':>6} {'FAILS':>5}  LAST ERROR")
    for r in rows:
        ls = r["last_success"][:16].replace("T", " ") if r["last_success"] else "-"
        print(f"{r['id']:<20} {r['state']:<13} {ls:<17} {r['items']:>6} {r['consecutive_failures']:>5}  {r['last_error'] or ''}")
    return EXIT_FAILED if any(r["state"] == "FAILING" for r in rows) else EXIT_OK


def _topic_hits(store: Store, matcher: Matcher, topic: str, since) -> dict[int, tuple]:
    out = {}
    for item in store.iter_items(since=since):
        found = matcher.match(item_fields(item), topic_ids=[topic])
        if found:
            out[item.id] = (item, found[0].evidence)
    return out


def cmd_test_rule(args) -> int:
    cfg = _config(args)
    if args.topic not in cfg.topics:
        return _usage(f"unknown topic '{args.topic}'; known: {', '.join(cfg.topics)}")
    since = _since(args.since)
    store = Store(cfg.storage_url)
    try:
        current = _topic_hits(store, Matcher(cfg.rulebook), args.topic, since)
        other = None
        if args.settings:
            try:
                text = Path(args.settings).read_text(encoding="utf-8")
            except OSError as exc:
                return _usage(f"cannot read {args.settings}: {exc.strerror}")
            _, rulebook, _ = parse_settings(text, args.settings)
            if args.topic not in rulebook.topic_ids:
                return _usage(f"topic '{args.topic}' is not in {args.settings}")
            other = _topic_hits(store, Matcher(rulebook), args.topic, since)
        total = store.count_items()
    finally:
        store.close()
    scope = f"in the last {args.since}" if args.since else "in the store"
    if other is None:
        print(f"{args.topic}: {len(current)} of {total} stored item(s) {scope} match")
        for item, ev in sorted(current.values(), key=lambda r: r[0].published or r[0].first_seen, reverse=True)[: args.limit]:
            print(f"  + {item.title[:100]}  [{', '.join(ev['terms'][:5])}]")
        return EXIT_OK
    gained = [other[i] for i in other if i not in current]
    lost = [current[i] for i in current if i not in other]
    print(f"{args.topic}: {len(current)} match now, {len(other)} with {args.settings} {scope}: "
          f"{len(gained)} gained, {len(lost)} lost")
    for item, ev in gained[: args.limit]:
        print(f"  + {item.title[:100]}  [{', '.join(ev['terms'][:5])}]")
    for item, ev in lost[: args.limit]:
        print(f"  - {item.title[:100]}  [{', '.join(ev['terms'][:5])}]")
    return EXIT_OK


def cmd_rematch(args) -> int:
    cfg = _config(args)
    store = Store(cfg.storage_url)
    try:
        stats = match_stored(store, Matcher(cfg.rulebook), since=_since(args.since), all_items=True)
    finally:
        store.close()
    print(f"re-matched {stats.items} item(s) with rules {cfg.rulebook.version}: {stats.matched} match a topic")
    return EXIT_OK


def cmd_demo(args) -> int:
    from scheduler.demo import run_demo
    return run_demo(workdir=args.workdir, keep_serving=args.serve)


def cmd_status(args) -> int:
    from scheduler.service import job_table

    cfg = _config(args)
    rows = job_table(cfg)
    if args.json:
        for r in rows:
            print(json.dumps({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()}, ensure_ascii=False))
        return EXIT_OK
    fmt = lambda dt: dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if dt else "-"  # noqa: E731
    print(f"{'JOB':<28} {'SCHEDULE':<26} {'NEXT RUN (UTC)':<20} {'LAST RUN (UTC)':<20} LAST RESULT")
    for r in rows:
        nxt = fmt(r["next_run"]) if r["scheduled"] else "(service not started)"
        print(f"{r['job']:<28} {r['schedule']:<26} {nxt:<20} {fmt(r['last_run']):<20} {r['last_result'] or '-'}")
    return EXIT_OK


def cmd_worker(args) -> int:
    from scheduler.distributed import run_worker

    path = args.config
    first = load_config(path)
    if first.settings.crawl.backend != "redis":
        _err("newswatch: note: crawl.backend is 'local'; this worker serves whoever queues into "
             f"{first.settings.crawl.redis_url} ({first.settings.crawl.queue})")

    def reload() -> Config:
        try:
            return load_config(path)
        except ConfigError as exc:
            for p in exc.problems:
                logging.getLogger("newswatch").error("settings change refused, keeping the last good settings: %s", p)
            return first

    return run_worker(reload, max_jobs=args.max_jobs)


def cmd_run(args) -> int:
    from scheduler.service import run_service
    return run_service(args.config)


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level), handlers=[handler], force=True)
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, getattr(logging, level)))
    os.environ["NEWSWATCH_LOG_FORMAT"] = fmt      # the crawl child logs the same way


# ---- parser -------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="newswatch", description="News monitor: crawl sources, match topics, send digests.",
                                epilog="Settings: --config PATH, else $NEWSWATCH_CONFIG, else ./settings.yaml.")
    p.add_argument("--config", metavar="PATH", help="settings file (default: $NEWSWATCH_CONFIG or ./settings.yaml)")
    p.add_argument("--log-level", default=os.environ.get("NEWSWATCH_LOG_LEVEL", "WARNING"),
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log verbosity (default WARNING)")
    p.add_argument("--log-format", default=os.environ.get("NEWSWATCH_LOG_FORMAT", "text"), choices=["text", "json"],
                   help="log lines as text, or as JSON objects for log collectors")
    # --config and the log options are also accepted after the command
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="settings file")
    common.add_argument("--log-level", default=argparse.SUPPRESS, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    common.add_argument("--log-format", default=argparse.SUPPRESS, choices=["text", "json"])
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=lambda **kw: argparse.ArgumentParser(parents=[common], **kw))
    sub.required = True

    c = sub.add_parser("check", help="validate the settings file", description="Validate the settings; exit 0, or 2 with FILE:LINE: key: message lines.")
    c.set_defaults(func=cmd_check)

    c = sub.add_parser("crawl", help="fetch sources now and store new items", description="Fetch now, store new items, print a per-source summary.")
    c.add_argument("source_ids", nargs="*", metavar="SOURCE_ID", help="only these sources (default: all enabled)")
    c.add_argument("--verbose", "-v", action="store_true", help="show what each selector found")
    c.set_defaults(func=cmd_crawl)

    c = sub.add_parser("match", help="match text against the topics", description="Match text against the topics and explain why.")
    g = c.add_mutually_exclusive_group()
    g.add_argument("--text", help="the text to match")
    c.add_argument("files", nargs="*", metavar="FILE", help="files to read ('-' for standard input)")
    c.add_argument("--json", action="store_true", help="JSON output")
    c.add_argument("--lines", action="store_true", help='each input line is one item (plain text or a JSON object with title/summary/body)')
    c.set_defaults(func=cmd_match)

    c = sub.add_parser("digest", help="build and deliver digests that are due", description="Build and deliver the digests that are due.")
    c.add_argument("--subscriber", metavar="NAME", help="only this subscriber")
    c.add_argument("--dry-run", action="store_true", help="build and report, send and record nothing")
    c.add_argument("--preview", metavar="DIR", help="write each digest as HTML into DIR; send and record nothing")
    c.add_argument("--now", action="store_true", help="send even if the cadence says it is not due yet")
    c.set_defaults(func=cmd_digest)

    c = sub.add_parser("once", help="one full cycle: crawl, match, deliver what is due", description="One full cycle: crawl every source, match, deliver what is due.")
    c.set_defaults(func=cmd_once)

    c = sub.add_parser("run", help="the long-running scheduler", description="Run the scheduler: crawl each source on its interval, match, send digests on each subscriber's cadence.")
    c.set_defaults(func=cmd_run)

    c = sub.add_parser("status", help="next and last run of every scheduled job", description="Show the next and last run of every job of the scheduler.")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_status)

    c = sub.add_parser("worker", help="crawl sources queued in Redis (crawl.backend: redis)",
                       description="Take crawl jobs from the Redis queue and write items to the shared store; run any number of these.")
    c.add_argument("--max-jobs", type=int, default=None, help="exit after this many sources (for tests and batch use)")
    c.set_defaults(func=cmd_worker)

    c = sub.add_parser("items", help="stored items and their matches", description="List stored items that matched a topic.")
    c.add_argument("--topic", metavar="ID")
    c.add_argument("--since", metavar="AGE", help="e.g. 7d, 12h")
    c.add_argument("--all", action="store_true", help="also items that matched no topic")
    c.add_argument("--json", action="store_true", help="one JSON object per item, with match evidence")
    c.add_argument("--limit", type=int, default=100)
    c.set_defaults(func=cmd_items)

    c = sub.add_parser("sources", help="per-source health", description="Per-source health: last success, items, consecutive failures, last error.")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_sources)

    c = sub.add_parser("test-rule", help="what a topic matches among stored items", description="Show what a topic matches among stored items; with --settings, what another settings file would gain and lose.")
    c.add_argument("topic", metavar="TOPIC")
    c.add_argument("--since", metavar="AGE", default=None, help="only items first seen in this period, e.g. 30d")
    c.add_argument("--settings", metavar="OTHER.yaml", help="compare with the rules in another settings file")
    c.add_argument("--limit", type=int, default=50)
    c.set_defaults(func=cmd_test_rule)

    c = sub.add_parser("rematch", help="apply the current rules to stored items", description="Re-match stored items with the current rules.")
    c.add_argument("--since", metavar="AGE", help="only items first seen in this period, e.g. 30d")
    c.set_defaults(func=cmd_rematch)

    c = sub.add_parser("demo", help="the whole cycle offline against a bundled sample site", description="Serve a bundled sample site on 127.0.0.1, crawl it, match, and write the digest to an outbox.")
    c.add_argument("--workdir", metavar="DIR", help="where to keep the demo database and outbox (default: ./newswatch-demo)")
    c.add_argument("--serve", action="store_true", help="keep the sample site running after the demo (Ctrl-C to stop)")
    c.set_defaults(func=cmd_demo)
    return p


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    try:
        return args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            _err(str(problem))
        return EXIT_CONFIG
    except AlertsError as exc:
        _err(f"newswatch: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _err("newswatch: interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
