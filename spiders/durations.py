"""Durations written as operators write them: ``90s``, ``15m``, ``2h``, ``7d``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(value: object) -> timedelta:
    """Turn ``"15m"`` (or a number of seconds) into a timedelta; ValueError otherwise."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 15m, 2h or 7d")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _RE.match(str(value))
        if not m:
            raise ValueError(f"{value!r} is not a duration; write it like 30s, 15m, 2h or 7d")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return timedelta(seconds=seconds)


def parse_positive_duration(value: object) -> timedelta:
    """As parse_duration, but zero is refused: an interval or timeout of 0s would spin or
    give up at once."""
    td = parse_duration(value)
    if td.total_seconds() <= 0:
        raise ValueError("must be longer than 0s; write it like 30s, 15m, 2h or 7d")
    return td


def describe_duration(td: timedelta) -> str:
    """``900s`` → ``15m``: how people write it."""
    seconds = td.total_seconds()
    if seconds != int(seconds):
        return f"{seconds:g}s"
    seconds = int(seconds)
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


_AS_SECONDS = PlainSerializer(lambda td: td.total_seconds(), return_type=float, when_used="json")
Duration = Annotated[timedelta, BeforeValidator(parse_duration), _AS_SECONDS]
PositiveDuration = Annotated[timedelta, BeforeValidator(parse_positive_duration), _AS_SECONDS]
