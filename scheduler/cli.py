"""The ``newswatch`` command line: the one place that turns errors into a one-line message
and an exit code — 0 done, 1 the work failed, 2 bad settings or usage, 3 another newswatch
is working on the same database."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from newswatch.alerts.errors import AlertsError
from newswatch.scheduler.commands import crawling, inspect, rules, serving, setup, web, worker
from newswatch.scheduler.commands.common import (
    EXIT_BUSY,
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    Formatter,
    UsageError,
    err,
)
from newswatch.scheduler.config import ConfigError
from newswatch.scheduler.runtime import BusyError
from newswatch.spiders.logs import setup_logging
from newswatch.storage.errors import StorageError

COMMANDS = (setup, crawling, rules, inspect, serving, worker, web)
LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="newswatch", formatter_class=Formatter,
        description="News monitor: crawl sources, match keyword topics, send email digests.",
        epilog="Settings: --config PATH, else $NEWSWATCH_CONFIG, else ./settings.yaml.\n"
               "Exit codes: 0 done, 1 the work failed, 2 bad settings or usage, 3 busy (another newswatch).")
    p.add_argument("--config", metavar="PATH", help="settings file (default: $NEWSWATCH_CONFIG or ./settings.yaml)")
    p.add_argument("--log-level", default=None, choices=LEVELS, help="log verbosity (default WARNING; INFO for run)")
    p.add_argument("--log-format", default=None, choices=["text", "json"],
                   help="log lines as text, or as JSON objects for log collectors (default text)")
    # the global options are also accepted after the command
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="settings file")
    common.add_argument("--log-level", default=argparse.SUPPRESS, choices=LEVELS, help="log verbosity")
    common.add_argument("--log-format", default=argparse.SUPPRESS, choices=["text", "json"], help="log line format")
    sub = p.add_subparsers(dest="command", metavar="COMMAND",
                           parser_class=lambda **kw: argparse.ArgumentParser(parents=[common], **kw))
    sub.required = True
    for module in COMMANDS:
        module.register(sub)
    return p


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.log_level_given = args.log_level is not None or "NEWSWATCH_LOG_LEVEL" in os.environ
    args.log_level = args.log_level or os.environ.get("NEWSWATCH_LOG_LEVEL", "WARNING")
    args.log_format = args.log_format or os.environ.get("NEWSWATCH_LOG_FORMAT", "text")
    setup_logging("INFO" if args.command == "run" and not args.log_level_given else args.log_level, args.log_format)
    try:
        return args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            err(str(problem))
        return EXIT_CONFIG
    except UsageError as exc:
        err(f"newswatch {args.command}: {exc}")
        return EXIT_CONFIG
    except BusyError as exc:
        err(f"newswatch {args.command}: {exc}")
        return EXIT_BUSY
    except (StorageError, AlertsError) as exc:
        err(f"newswatch {args.command}: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        err("newswatch: interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
