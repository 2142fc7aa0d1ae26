"""Keeping the long-running service's memory flat.

The service's threads (APScheduler's pool, one per crawl child) each get a glibc malloc
arena of their own, and freed memory stays in them: resident memory then creeps up by a
megabyte or two a minute at 1-second intervals, though Python's own objects do not grow
(tracemalloc shows it). Two arenas and a trim after each delivery round keep it flat. On
other C libraries these calls are absent and nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import lru_cache
from typing import Any, Optional

log = logging.getLogger("newswatch.service")
M_ARENA_MAX = -8          # mallopt parameter (glibc malloc.h)


@lru_cache(maxsize=1)
def _libc() -> Optional[Any]:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def limit_arenas(arenas: int = 2) -> bool:
    """Use at most ``arenas`` malloc arenas (call before threads start)."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


def trim() -> None:
    """Give freed heap memory back to the system."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
