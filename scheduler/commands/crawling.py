"""``crawl``, ``once`` and ``digest``: the work of a cycle, on demand."""

from __future__ import annotations

import argparse
from pathlib import Path

from newswatch.alerts.digest_send import DigestStatus
from newswatch.scheduler import cycle
from newswatch.scheduler.commands.common import (
    EXIT_FAILED,
    EXIT_OK,
    Formatter,
    UsageError,
    config,
    err,
    plural,
    runtime,
)

LOCK_WAIT = 10.0     # seconds an overlapping once/digest waits for the other to finish


def cmd_crawl(args: argparse.Namespace) -> int:
    cfg = config(args)
    sources = cfg.enabled_sources
    if args.source_ids:
        known = {s.id: s for s in cfg.settings.sources}
        unknown = [i for i in args.source_ids if i not in known]
        if unknown:
            raise UsageError(f"unknown source id(s): {', '.join(unknown)}; see 'newswatch sources'")
        sources = [known[i] for i in args.source_ids]
    with runtime(args, cfg) as rt:
        results, stats = cycle.crawl_and_match(rt, sources, progress=print, verbose=args.verbose)
    failed = [r for r in results if r.failed]
    print(f"crawled {plural(len(results), 'source')}: {len(results) - len(failed)} ok, {len(failed)} failed; "
          f"{plural(sum(r.items_new for r in results), 'new item')}; "
          f"{stats.matched} of {plural(stats.items, 'item')} matched a topic")
    return EXIT_FAILED if failed and len(failed) == len(results) else EXIT_OK


def cmd_once(args: argparse.Namespace) -> int:
    with runtime(args) as rt:
        rt.acquire(args.wait, "newswatch once")
        report = cycle.once(rt, progress=print)
    failed = [r for r in report.results if r.failed]
    print(f"crawl: {len(report.results) - len(failed)} of {plural(len(report.results), 'source')} ok; "
          f"{plural(sum(r.items_new for r in report.results), 'new item')}")
    print(f"match: {report.stats.matched} of {plural(report.stats.items, 'new item')} matched a topic")
    for d in report.digests:
        print("digest: " + d.describe())
    if report.all_sources_failed:
        print("every source failed: see the lines above, and 'newswatch sources'")
        return EXIT_FAILED
    return EXIT_FAILED if report.any_digest_failed else EXIT_OK


def cmd_digest(args: argparse.Namespace) -> int:
    cfg = config(args)
    if args.subscriber and args.subscriber not in {s.name for s in cfg.settings.subscribers}:
        raise UsageError(f"unknown subscriber '{args.subscriber}'")
    options = cycle.DeliverOptions(only=args.subscriber, force=args.now, dry_run=args.dry_run,
                                   preview_dir=Path(args.preview) if args.preview else None)
    with runtime(args, cfg) as rt:
        if not (args.dry_run or args.preview):
            rt.acquire(args.wait, "newswatch digest")
        cycle.match_new(rt)
        results = cycle.deliver(rt, options=options)
    for r in results:
        print(r.describe())
    return EXIT_FAILED if any(r.status is DigestStatus.FAILED for r in results) else EXIT_OK


def cmd_probe(args: argparse.Namespace) -> int:
    from newswatch.scheduler.config import ConfigError
    from newswatch.spiders.probe import ProbeError, fetch, probe

    agent = "newswatch probe"
    try:
        agent = config(args).settings.crawl.user_agent
    except ConfigError:
        pass                                  # probing needs no settings file
    target = args.target
    try:
        if Path(target).is_file():
            try:
                body = Path(target).read_bytes()
            except OSError as exc:
                raise UsageError(f"cannot read {target}: {exc.strerror}") from None
            ctype, url = "", args.url or Path(target).resolve().as_uri()
        elif target.startswith(("http://", "https://")):
            body, ctype, url = fetch(target, agent, allow_private=args.allow_private)
        else:
            raise UsageError(f"{target}: neither a file nor an http(s) address")
    except ProbeError as exc:
        err(str(exc))
        return EXIT_FAILED
    print(probe(body, url, ctype).text())
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("probe", help="look at one page and propose how to configure it as a source",
                       formatter_class=Formatter,
                       description="Fetch one page (or read a saved file) and say what it is — feed, sitemap, JSON\n"
                                   "listing, HTML listing or article — with candidate listing selectors (repeated\n"
                                   "blocks with links and dates, and how many each finds), the feeds and sitemaps\n"
                                   "it links to, the article metadata it carries, and a sources: entry to start from.")
    c.add_argument("target", metavar="URL|FILE", help="an http(s) address, or a saved page")
    c.add_argument("--url", help="for a saved file: the address it came from (to resolve its links)")
    c.add_argument("--allow-private", action="store_true",
                   help="also follow redirects to private or loopback addresses (the address given is always allowed)")
    c.set_defaults(func=cmd_probe)

    c = sub.add_parser("crawl", help="fetch sources now and store new items", formatter_class=Formatter,
                       description="Fetch now, store new items, match them, and print a line per source.\n"
                                   "Exit 1 when every source failed.")
    c.add_argument("source_ids", nargs="*", metavar="SOURCE_ID", help="only these sources (default: every enabled one)")
    c.add_argument("--verbose", "-v", action="store_true",
                   help="show what each selector or method found, field by field")
    c.set_defaults(func=cmd_crawl)

    c = sub.add_parser("once", help="one full cycle: crawl, match, deliver what is due", formatter_class=Formatter,
                       description="One full cycle: crawl every enabled source, match, alert operators, prune,\n"
                                   "and deliver the digests that are due. Exit 1 when every source failed or a\n"
                                   "digest could not be sent; 3 when another newswatch is working on the database.")
    c.add_argument("--wait", type=float, default=LOCK_WAIT, metavar="SECONDS",
                   help="how long to wait for another running cycle to finish")
    c.set_defaults(func=cmd_once)

    c = sub.add_parser("digest", help="build and deliver the digests that are due", formatter_class=Formatter,
                       description="Build and deliver the digests that are due (matching new items first).")
    c.add_argument("--subscriber", metavar="NAME", help="only this subscriber")
    c.add_argument("--dry-run", action="store_true", help="build and report; send and record nothing")
    c.add_argument("--preview", metavar="DIR", help="write each digest as HTML into DIR; send and record nothing")
    c.add_argument("--now", action="store_true", help="send even if the cadence says it is not due yet")
    c.add_argument("--wait", type=float, default=LOCK_WAIT, metavar="SECONDS",
                   help="how long to wait for another running cycle to finish")
    c.set_defaults(func=cmd_digest)
