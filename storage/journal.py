"""The delivery journal: deliveries the mail server accepted but the database would not
record (disk full, locked past the busy timeout, server gone). Each is appended as one
JSON line and fsynced; the next process that opens the store replays the journal into the
database before it sends anything, so the mail is not sent again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

log = logging.getLogger("newswatch.storage")


@dataclass(frozen=True)
class JournalEntry:
    subscriber: str
    item_ids: list[int]
    message_id: str
    at: str                   # ISO time the server accepted the message
    slot: str | None = None   # the cadence slot the digest served
    items: int = 0

    @property
    def accepted_at(self) -> datetime:
        return datetime.fromisoformat(self.at)


class DeliveryJournal:
    def __init__(self, path: Path):
        self.path = Path(path)

    def append(self, entry: JournalEntry) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(asdict(entry)) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def pending(self) -> list[JournalEntry]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(JournalEntry(**json.loads(line)))
            except (ValueError, TypeError):   # a line cut short by a crash: it was never fsynced whole
                log.warning("delivery journal %s line %d is unreadable; skipped", self.path, n)
        return out

    def replay(self, record: Callable[[JournalEntry], None]) -> int:
        """Record every journalled delivery, then empty the journal. A failure leaves the
        journal in place for the next try."""
        entries = self.pending()
        if not entries:
            return 0
        for entry in entries:
            record(entry)
        tmp = self.path.with_suffix(".done")
        os.replace(self.path, tmp)
        tmp.unlink(missing_ok=True)
        log.warning("recorded %d delivery(ies) from the journal %s (the mail server had accepted them)",
                    len(entries), self.path)
        return len(entries)
