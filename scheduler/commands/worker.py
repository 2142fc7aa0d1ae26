"""``worker``: crawl the sources a ``crawl.backend: celery`` scheduler sends."""

from __future__ import annotations

import argparse

from newswatch.scheduler.commands.common import EXIT_OK, Formatter, config, err
from newswatch.storage.engine import redact


def cmd_worker(args: argparse.Namespace) -> int:
    from newswatch.spiders.tasks import make_app, run_worker

    cfg = config(args)
    crawl = cfg.settings.crawl
    if crawl.backend != "celery":
        err(f"newswatch worker: note: crawl.backend is '{crawl.backend}'; this worker serves whoever sends to "
            f"queue {crawl.queue} on {redact(crawl.broker_url)}")
    run_worker(make_app(crawl.broker_url, crawl.queue), crawl.queue, args.concurrency or crawl.processes,
               hostname=args.name)
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("worker", help="crawl sources sent by a scheduler (crawl.backend: celery)",
                       formatter_class=Formatter,
                       description="A Celery worker: takes batches of due sources from crawl.queue on\n"
                                   "crawl.broker_url and crawls them into the shared store. Run any number, on any\n"
                                   "machine that reaches the broker and the database. Watch them with\n"
                                   "`celery --broker URL inspect active` or Flower.")
    c.add_argument("--concurrency", type=int, default=None, help="batches crawled at once (default: crawl.processes)")
    c.add_argument("--name", metavar="NAME", help="the worker's name (default: celery@<host>)")
    c.set_defaults(func=cmd_worker)
