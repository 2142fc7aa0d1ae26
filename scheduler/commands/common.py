"""What the commands share: exit codes, settings and runtime loading, output helpers."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from newswatch.scheduler.config import Config, load_config
from newswatch.scheduler.runtime import Runtime
from newswatch.spiders.durations import parse_duration
from newswatch.spiders.runner import LogSettings

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_BUSY = 0, 1, 2, 3


class UsageError(Exception):
    """A mistake on the command line (exit 2)."""


def err(msg: str) -> None:
    print(msg, file=sys.stderr)


def config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def runtime(args: argparse.Namespace, cfg: Optional[Config] = None) -> Runtime:
    return Runtime(cfg or config(args), LogSettings(args.log_level, args.log_format))


def since(text: Optional[str]) -> Optional[datetime]:
    if not text:
        return None
    try:
        return datetime.now(timezone.utc) - parse_duration(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def zone(name: Optional[str]) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"unknown time zone {name!r}; use an IANA name such as Europe/Minsk") from None


def plural(n: int, word: str, many: Optional[str] = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's line breaks and shows each option's default, when it has one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" not in text and action.default not in (None, False, argparse.SUPPRESS, []) \
                and action.option_strings:
            text += " (default: %(default)s)"
        return text
