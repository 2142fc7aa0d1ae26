"""``check``: validate the settings (and the database, read-only)."""

from __future__ import annotations

import argparse

from newswatch.scheduler.commands.common import EXIT_FAILED, EXIT_OK, Formatter, config, err, plural
from newswatch.storage.engine import Database, redact, sqlite_path
from newswatch.storage.errors import StorageError


def cmd_check(args: argparse.Namespace) -> int:
    cfg = config(args)
    s = cfg.settings
    print(f"{cfg.path}: settings OK — {plural(len(s.sources), 'source')} ({len(cfg.enabled_sources)} enabled), "
          f"{plural(len(s.terms), 'term list')}, {plural(len(s.topics), 'topic')}, "
          f"{plural(len(s.subscribers), 'subscriber')}; rules version {cfg.rulebook.version}; "
          f"email via {s.email.transport}")
    if s.web.base_url and not cfg.web_secret:
        # not an error (digests go out without the links), but surely not what was meant
        err(f"warning: web.base_url is set but {s.web.secret_env} is not: digests will carry no "
            f"relevant / not relevant links and the workbench will not start")
    problems = []
    path = sqlite_path(cfg.storage_url)
    if path is not None and not __import__("os").path.exists(path):
        print(f"storage: {path} does not exist yet; the first crawl creates it")
        return EXIT_OK
    try:
        db = Database(cfg.storage_url, read_only=True)
    except StorageError as exc:
        problems.append(str(exc))
    else:
        try:
            problems += [p for p in db.check() if "no newswatch tables yet" not in p]
        finally:
            db.close()
    if problems:
        for p in problems:
            err(f"storage: {p}")
        return EXIT_FAILED
    print(f"storage: {redact(cfg.storage_url)} OK")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("check", help="validate the settings file and the database", formatter_class=Formatter,
                       description="Validate the settings; exit 0, or 2 with FILE:LINE: key: message lines.\n"
                                   "The database is opened read-only and checked too (exit 1 if it is unreadable).")
    c.set_defaults(func=cmd_check)
