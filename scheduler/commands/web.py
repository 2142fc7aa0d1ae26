"""``web``: the workbench (archive, rules, sources, analysts' verdicts) over HTTP."""

from __future__ import annotations

import argparse
import getpass
import sys

from newswatch.scheduler.commands.common import EXIT_OK, Formatter, UsageError, config


def serve(app: object, host: str, port: int, log_level: str = "info", behind_proxy: bool = False) -> None:
    import uvicorn

    # forwarded headers only when a reverse proxy on this machine sets them (web.behind_proxy):
    # otherwise any local client could name itself another address (and dodge the sign-in throttle)
    uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=behind_proxy,
                forwarded_allow_ips="127.0.0.1" if behind_proxy else "", server_header=False)


def cmd_web(args: argparse.Namespace) -> int:
    from newswatch.scheduler.web.auth import hash_password

    if args.hash_password:
        first = getpass.getpass("operators' password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        if len(first) < 10:
            raise UsageError("choose a password of at least 10 characters")
        if sys.stdin.isatty() and getpass.getpass("again: ") != first:
            raise UsageError("the two passwords differ")
        print(hash_password(first))
        print("put it in settings.yaml as web.password_hash", file=sys.stderr)
        return EXIT_OK
    from newswatch.scheduler.web.app import build_app

    cfg = config(args)
    host = args.host or cfg.settings.web.host
    port = args.port or cfg.settings.web.port
    try:
        app = build_app(cfg.path)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(f"newswatch workbench on http://{host}:{port}/ (settings {cfg.path}); Ctrl-C to stop", file=sys.stderr)
    serve(app, host, port, "info" if args.log_level_given and args.log_level in ("DEBUG", "INFO") else "warning",
          cfg.settings.web.behind_proxy)
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("web", help="the web workbench: archive, rules, sources, verdicts", formatter_class=Formatter,
                       description="Serve the workbench on the same store and settings as `run` (it runs beside\n"
                                   "it): the archive with search and export, the rules workbench with a live\n"
                                   "backtest, source health and probing, and the pages digest links open.\n"
                                   "Needs the signing secret in the variable web.secret_env names (the same\n"
                                   "value `run` signs digest links with). Binds 127.0.0.1 unless told otherwise;\n"
                                   "put it behind a reverse proxy with TLS to reach it from elsewhere.")
    c.add_argument("--host", help="address to listen on (default: web.host, 127.0.0.1)")
    c.add_argument("--port", type=int, help="port to listen on (default: web.port, 8080)")
    c.add_argument("--hash-password", action="store_true",
                   help="read a password and print its hash for web.password_hash, then exit")
    c.set_defaults(func=cmd_web)
