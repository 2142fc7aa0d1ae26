"""What a crawl says about each source: one ``SourceResult``, built by the source's run,
sent from the crawl child to the parent as JSON, and recorded as a crawl run."""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional

from newswatch.storage.rows import CrawlRun


class SourceStatus(str, enum.Enum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    FAILED = "failed"


@dataclass
class Finding:
    """What one selector or method found (``crawl --verbose``, the health page)."""

    what: str                  # e.g. "page 1: item", "article: date"
    how: Optional[str]         # the selector, or the method ("json-ld", "feed")
    found: Any                 # a count or a short sample


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class SourceResult:
    source_id: str
    status: SourceStatus = SourceStatus.FAILED
    http_status: Optional[int] = None
    items_found: int = 0
    items_new: int = 0
    items_updated: int = 0
    items_skipped: int = 0                     # filtered out, or not articles by link_pattern
    error: Optional[str] = None
    warnings: list[str] = field(default_factory=list)
    used_fallback: bool = False
    duration: float = 0.0
    started_at: datetime = field(default_factory=_now)
    finished_at: Optional[datetime] = None
    findings: list[Finding] = field(default_factory=list)

    @classmethod
    def failure(cls, source_id: str, error: str, started_at: Optional[datetime] = None,
                http_status: Optional[int] = None) -> SourceResult:
        """The one way to say a source failed before or outside its own run."""
        now = _now()
        start = started_at or now
        return cls(source_id=source_id, status=SourceStatus.FAILED, error=error, http_status=http_status,
                   started_at=start, finished_at=now, duration=round((now - start).total_seconds(), 3))

    @property
    def failed(self) -> bool:
        return self.status is SourceStatus.FAILED

    def to_json(self) -> str:
        data = asdict(self)
        data["status"] = self.status.value
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return json.dumps(data, ensure_ascii=False, default=str)

    @classmethod
    def from_json(cls, text: str) -> SourceResult:
        data = json.loads(text)
        data["status"] = SourceStatus(data["status"])
        data["started_at"] = datetime.fromisoformat(data["started_at"])
        data["finished_at"] = datetime.fromisoformat(data["finished_at"]) if data.get("finished_at") else None
        data["findings"] = [Finding(**f) for f in data.get("findings") or []]
        return cls(**data)

    def crawl_run(self) -> CrawlRun:
        return CrawlRun(source_id=self.source_id, started_at=self.started_at,
                        finished_at=self.finished_at or _now(), status=self.status.value,
                        http_status=self.http_status, items_found=self.items_found, items_new=self.items_new,
                        items_updated=self.items_updated, duration=self.duration, error=self.error,
                        warnings=tuple(self.warnings), report=tuple(asdict(f) for f in self.findings),
                        used_fallback=self.used_fallback)

    def summary(self) -> str:
        if self.status is SourceStatus.OK:
            text = f"ok, {self.items_found} items ({self.items_new} new, {self.items_updated} updated)"
            if self.used_fallback:
                text += " via fallback"
        elif self.status is SourceStatus.NOT_MODIFIED:
            text = "not modified since the last crawl (HTTP 304)"
        else:
            text = f"FAILED: {self.error}"
        return f"{self.source_id}: {text} in {self.duration:.1f}s"
