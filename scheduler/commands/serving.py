"""``run``, ``status`` and ``demo``: the service, its schedule, and the offline demo."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone

from newswatch.scheduler.commands.common import EXIT_OK, Formatter, runtime, zone
from newswatch.spiders.runner import LogSettings


def cmd_run(args: argparse.Namespace) -> int:
    from newswatch.scheduler.service import run_service

    level = args.log_level if args.log_level_given else "INFO"      # a service says what it does
    return run_service(args.config, LogSettings(level, args.log_format))


def cmd_status(args: argparse.Namespace) -> int:
    from newswatch.scheduler.service import job_table

    tz = zone(args.timezone)
    with runtime(args) as rt:
        rows = job_table(rt)
    if args.json:
        for r in rows:
            print(json.dumps({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()},
                             ensure_ascii=False))
        return EXIT_OK
    label = getattr(tz, "key", str(tz))
    now = datetime.now(timezone.utc)
    fmt = lambda dt: ("now" if dt <= now else dt.astimezone(tz).strftime("%Y-%m-%d %H:%M")) if dt else "-"  # noqa: E731
    last = lambda dt: dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else "-"  # noqa: E731
    print(f"{'JOB':<30} {'SCHEDULE':<30} {'NEXT (' + label + ')':<18} {'LAST (' + label + ')':<18} LAST RESULT")
    for r in rows:
        print(f"{r['job']:<30} {r['schedule']:<30} {fmt(r['next_run']):<18} {last(r['last_run']):<18} "
              f"{(r['last_result'] or '-')[:100]}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from newswatch.scheduler.demo import run_demo

    return run_demo(workdir=args.workdir, keep_serving=args.serve, reset=args.reset)


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("run", help="the long-running scheduler", formatter_class=Formatter,
                       description="Run the service: crawl each source on its interval, match, alert operators,\n"
                                   "and send every digest when it is due. Logs at INFO unless --log-level says\n"
                                   "otherwise. SIGTERM or Ctrl-C stops it within seconds.")
    c.set_defaults(func=cmd_run)

    c = sub.add_parser("status", help="next and last run of every job", formatter_class=Formatter,
                       description="Show the next and last run of every crawl and digest job (computed from the\n"
                                   "store; the service need not be running).")
    c.add_argument("--json", action="store_true", help="one JSON object per job")
    c.add_argument("--timezone", default="UTC", metavar="ZONE", help="show times in this IANA zone")
    c.set_defaults(func=cmd_status)

    c = sub.add_parser("demo", help="the whole cycle offline, against a bundled sample site", formatter_class=Formatter,
                       description="Serve a bundled sample site on 127.0.0.1, crawl it, match, and write the digest\n"
                                   "to an outbox. A second run keeps your edited demo settings (--reset rewrites them).")
    c.add_argument("--workdir", metavar="DIR", default="newswatch-demo",
                   help="where to keep the demo settings, database and outbox")
    c.add_argument("--serve", action="store_true", help="keep the sample site running after the demo (Ctrl-C to stop)")
    c.add_argument("--reset", action="store_true", help="rewrite the demo settings and start from an empty database")
    c.set_defaults(func=cmd_demo)
