"""Source health, computed once from the crawl history and read by everyone who shows it:
the digest footer, ``newswatch sources``, ``newswatch status``, the web workbench and the
operator alerts.

Operators get one email when a source fails ``health.alert_after_failures`` crawls in a
row or produces no new item for longer than its ``quiet_after``, and one when it recovers.
Alert state lives in the store, so a restart sends nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from newswatch.alerts.errors import DeliveryError
from newswatch.alerts.subscriptions import check_email, check_header_value
from newswatch.alerts.transports import EmailSettings, Transport
from newswatch.spiders.durations import PositiveDuration
from newswatch.spiders.sources import Source
from newswatch.storage.alerts_repo import AlertsRepository
from newswatch.storage.crawl_repo import CrawlRepository
from newswatch.storage.rows import CrawlRun, SourceStats

log = logging.getLogger("newswatch.health")


class Operator(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    email: str

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_header_value(v, "the operator name")

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        return check_email(v)


class HealthSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    alert_after_failures: int = Field(default=3, ge=1, le=1000)
    quiet_after: Optional[PositiveDuration] = None


@dataclass(frozen=True)
class SourceHealth:
    source_id: str
    name: str
    enabled: bool
    state: str                                  # ok | failing | quiet | never | disabled
    last_run: Optional[datetime] = None
    last_success: Optional[datetime] = None
    consecutive_failures: int = 0
    failing_since: Optional[datetime] = None
    last_error: Optional[str] = None
    http_status: Optional[int] = None
    items: int = 0
    last_item_seen: Optional[datetime] = None
    per_day: tuple[tuple[str, int], ...] = ()   # (YYYY-MM-DD, new items), oldest first
    findings: tuple[dict, ...] = ()             # what the last crawl's selectors found

    @property
    def failing(self) -> bool:
        return self.state == "failing"

    @property
    def checked(self) -> bool:
        return self.enabled and self.last_run is not None


def assess(source: Source, runs: Sequence[CrawlRun], stats: Optional[SourceStats], now: datetime,
           quiet_after: Optional[timedelta] = None, days: int = 0) -> SourceHealth:
    """The health of one source from its recent runs (newest first)."""
    last = runs[0] if runs else None
    fails = 0
    since = None
    for run in runs:
        if run.succeeded:
            break
        fails += 1
        since = run.finished_at
    last_ok = next((r for r in runs if r.succeeded), None)
    if not source.enabled:
        state = "disabled"
    elif last is None:
        state = "never"
    elif not last.succeeded:
        state = "failing"
    else:
        quiet = source.quiet_after or quiet_after
        seen = stats.last_item_seen if stats else None
        state = "quiet" if quiet and seen is not None and now - seen > quiet else "ok"
    per_day: tuple[tuple[str, int], ...] = ()
    if days:
        counts = stats.per_day if stats else {}
        per_day = tuple(((now - timedelta(days=d)).strftime("%Y-%m-%d"),
                         counts.get((now - timedelta(days=d)).strftime("%Y-%m-%d"), 0)) for d in range(days - 1, -1, -1))
    return SourceHealth(
        source_id=source.id, name=source.label, enabled=source.enabled, state=state,
        last_run=last.finished_at if last else None, last_success=last_ok.finished_at if last_ok else None,
        consecutive_failures=fails, failing_since=since if fails else None,
        last_error=last.error if last and not last.succeeded else None,
        http_status=last.http_status if last else None, items=stats.items if stats else 0,
        last_item_seen=stats.last_item_seen if stats else None, per_day=per_day,
        findings=tuple(last.report) if last else ())


def load_health(repo: CrawlRepository, sources: Iterable[Source], now: datetime,
                quiet_after: Optional[timedelta] = None, days: int = 0, history: int = 100,
                counts: bool = True) -> list[SourceHealth]:
    """The health of each source. ``counts=False`` leaves ``items`` at 0: the cycle's check
    and the digest don't show it, and counting reads every item of every source."""
    sources = list(sources)
    ids = [s.id for s in sources]
    # a source's state needs its runs back to its last success: mostly the latest one, so
    # two runs each, then the longer history only for sources whose two both failed
    first = min(2, history)
    runs = repo.recent_runs(ids, first)
    failing = [sid for sid, rs in runs.items() if len(rs) == first and not any(r.succeeded for r in rs)]
    if failing and history > first:
        runs.update(repo.recent_runs(failing, history))
    stats = repo.source_stats(ids, now - timedelta(days=days) if days else None, counts=counts)
    return [assess(s, runs.get(s.id, []), stats.get(s.id), now, quiet_after, days) for s in sources]


@dataclass(frozen=True)
class Notice:
    source_id: str
    name: str
    kind: str            # failing | quiet | recovered
    text: str


def _problem(h: SourceHealth, settings: HealthSettings, quiet_after: Optional[timedelta]) -> Optional[tuple[str, str]]:
    if h.consecutive_failures >= settings.alert_after_failures:
        return "failing", (f"{h.name} ({h.source_id}) failed {h.consecutive_failures} crawls in a row; "
                           f"last error: {h.last_error}")
    if h.state == "quiet" and h.last_item_seen is not None:
        return "quiet", (f"{h.name} ({h.source_id}) has produced no new item since "
                         f"{h.last_item_seen.isoformat(timespec='minutes')} (expected within {quiet_after})")
    return None


def check_sources(repo: AlertsRepository, health: Iterable[SourceHealth], settings: HealthSettings,
                  now: datetime) -> list[Notice]:
    """Open and close alerts; the notices not yet sent (earlier unsent ones included)."""
    notices = []
    open_alerts = repo.source_alerts()
    for h in health:
        if not h.enabled:
            continue
        problem = _problem(h, settings, settings.quiet_after)
        alert = open_alerts.get(h.source_id)
        if problem and alert is None:
            repo.open_source_alert(h.source_id, problem[0], problem[1], now)
            notices.append(Notice(h.source_id, h.name, problem[0], problem[1]))
        elif problem and alert is not None and not alert.notified:
            notices.append(Notice(h.source_id, h.name, alert.kind, alert.detail))
        elif problem is None and alert is not None:
            if alert.notified:
                repo.mark_source_alert(h.source_id, recovered=now)
                notices.append(Notice(h.source_id, h.name, "recovered",
                                      f"{h.name} ({h.source_id}) has recovered (it had been {alert.kind} since "
                                      f"{alert.since.isoformat(timespec='minutes')})"))
            else:
                repo.close_source_alert(h.source_id)   # never announced, so nothing to take back
    return notices


def notify_operators(repo: AlertsRepository, notices: list[Notice], operators: list[Operator],
                     email: EmailSettings, transport: Optional[Transport], now: datetime) -> bool:
    """One message to all operators with every notice; marks them sent on success."""
    if not notices or not operators or transport is None:
        return False
    down = [n for n in notices if n.kind != "recovered"]
    up = [n for n in notices if n.kind == "recovered"]
    parts = []
    if down:
        parts.append(f"{len(down)} source{'s' if len(down) != 1 else ''} need{'s' if len(down) == 1 else ''} attention")
    if up:
        parts.append(f"{len(up)} recovered")
    msg = EmailMessage()
    subject = "newswatch sources: " + ", ".join(parts) + ": " + ", ".join(n.source_id for n in notices)
    msg["Subject"] = " ".join(subject.split())[:200]
    msg["From"] = email.from_
    msg["To"] = ", ".join(o.email for o in operators)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid("newswatch-health", domain=email.from_.rsplit("@", 1)[-1].strip("> ") or "localhost")
    msg["X-Newswatch-Subscriber"] = "operators"
    lines = [f"{'PROBLEM' if n.kind != 'recovered' else 'RECOVERED'}: {n.text}" for n in notices]
    lines += ["", "Run `newswatch sources` for the table, and `newswatch crawl SOURCE --verbose` to see what "
              "each selector finds."]
    msg.set_content("\n".join(lines) + "\n")
    try:
        transport.send(msg)
    except DeliveryError as exc:
        log.error("operator alert not delivered (will retry next run): %s", exc)
        return False
    for n in notices:
        if n.kind == "recovered":
            repo.close_source_alert(n.source_id)
        else:
            repo.mark_source_alert(n.source_id, notified=True)
    log.warning("operators notified: %s", "; ".join(lines[: len(notices)]))
    return True
