"""Log output, set up the same way in the CLI and in the crawl child: one line per record
that names the source and stage, or one JSON object per line for log collectors.

Library chatter (Scrapy, Twisted, trafilatura…) is dropped unless the level is DEBUG:
newswatch reports each source's outcome itself, once, without tracebacks.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from datetime import datetime, timezone
from typing import Any

LIBRARIES = ("scrapy", "twisted", "py.warnings", "filelock", "trafilatura", "htmldate", "protego", "asyncio",
             "apscheduler", "urllib3", "charset_normalizer", "celery", "kombu", "amqp", "alembic",
             "uvicorn", "multipart", "readability", "courlan")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and source/stage when known.
    A traceback only at DEBUG; otherwise the exception's one-line description."""

    def __init__(self, debug: bool = False):
        super().__init__()
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key in ("source", "stage", "subscriber", "job"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = (self.formatException(record.exc_info) if self.debug
                            else f"{record.exc_info[0].__name__}: {record.exc_info[1]}")
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self, debug: bool = False):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        if not self.debug and record.exc_info:
            # the message already says what failed; a traceback is for debugging
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return super().format(record)


class LibraryNoise(logging.Filter):
    """Drop library records (any level) unless newswatch logs at DEBUG."""

    def __init__(self, keep: bool):
        super().__init__()
        self.keep = keep

    def filter(self, record: logging.LogRecord) -> bool:
        return self.keep or not record.name.startswith(LIBRARIES)


def setup_logging(level: str = "WARNING", fmt: str = "text") -> None:
    level = level.upper()
    debug = level == "DEBUG"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(debug) if fmt == "json" else TextFormatter(debug))
    handler.addFilter(LibraryNoise(debug))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level, logging.WARNING))
    if not debug:
        warnings.filterwarnings("ignore")
    logging.captureWarnings(True)
