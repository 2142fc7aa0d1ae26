"""Source health for operators: a source that has failed N crawls in a row, or produced no
new item for longer than its expected period, gets one email to the operators; its
recovery gets one more. Alert state lives in the store, so a restart sends nothing twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Iterable, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts.delivery import EmailSettings, Transport
from alerts.digest import EMAIL_RE
from alerts.errors import DeliveryError
from alerts.render import one_line
from spiders.durations import Duration
from spiders.sources import Source
from spiders.store import Store

log = logging.getLogger("newswatch.health")


class Operator(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    email: str

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if not EMAIL_RE.match(v.strip()):
            raise ValueError(f"{v!r} is not an email address")
        return v.strip()


class HealthSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    alert_after_failures: int = Field(default=3, ge=1, le=1000)
    quiet_after: Optional[Duration] = None


@dataclass
class Notice:
    source: Source
    kind: str            # failing | quiet | recovered
    text: str


def _problem(store: Store, source: Source, settings: HealthSettings, now: datetime) -> Optional[tuple[str, str]]:
    history = store.crawl_history(source.id, limit=settings.alert_after_failures)
    if len(history) >= settings.alert_after_failures and all(r.status == "failed" for r in history):
        return "failing", (f"{source.label} ({source.id}) failed {len(history)} crawls in a row; "
                           f"last error: {history[0].error}")
    quiet = source.quiet_after or settings.quiet_after
    if quiet and history and history[0].status != "failed":
        last_new = store.last_item_seen(source.id)
        if last_new is not None and now - last_new > quiet:
            return "quiet", (f"{source.label} ({source.id}) has produced no new item since "
                             f"{last_new.isoformat(timespec='minutes')} (expected within {quiet})")
    return None


def check_sources(store: Store, sources: Iterable[Source], settings: HealthSettings, now: datetime) -> list[Notice]:
    """Open and close alerts; return the notices not yet sent (including earlier unsent ones)."""
    notices = []
    for s in sources:
        problem = _problem(store, s, settings, now)
        alert = store.get_source_alert(s.id)
        if problem and alert is None:
            store.open_source_alert(s.id, problem[0], problem[1], now)
            notices.append(Notice(s, problem[0], problem[1]))
        elif problem and not alert["notified"]:
            notices.append(Notice(s, alert["kind"], alert["detail"]))
        elif problem is None and alert is not None:
            if alert["notified"]:
                store.mark_source_alert(s.id, recovered=now)
                notices.append(Notice(s, "recovered", f"{s.label} ({s.id}) has recovered "
                                                      f"(it had been {alert['kind']} since {alert['since'].isoformat(timespec='minutes')})"))
            else:
                store.close_source_alert(s.id)   # never announced, so nothing to take back
    return notices


def notify_operators(store: Store, notices: list[Notice], operators: list[Operator], email: EmailSettings,
                     transport: Optional[Transport], now: datetime) -> bool:
    """One message to all operators with every notice; marks them sent on success."""
    if not notices or not operators or transport is None:
        return False
    down = [n for n in notices if n.kind != "recovered"]
    up = [n for n in notices if n.kind == "recovered"]
    parts = []
    if down:
        parts.append(f"{len(down)} source(s) need attention")
    if up:
        parts.append(f"{len(up)} recovered")
    msg = EmailMessage()
    msg["Subject"] = one_line("newswatch sources: " + ", ".join(parts) + ": " + ", ".join(n.source.id for n in notices), 200)
    msg["From"] = email.from_
    msg["To"] = ", ".join(o.email for o in operators)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid("newswatch-health", domain=email.from_.rsplit("@", 1)[-1].strip("> ") or "localhost")
    msg["X-Newswatch-Subscriber"] = "operators"
    lines = [f"{'PROBLEM' if n.kind != 'recovered' else 'RECOVERED'}: {n.text}" for n in notices]
    lines += ["", "Run `newswatch sources` for the table, and `newswatch crawl SOURCE --verbose` to see what each selector finds."]
    msg.set_content("\n".join(lines) + "\n")
    try:
        transport.send(msg)
    except DeliveryError as exc:
        log.error("operator alert not delivered (will retry next run): %s", exc)
        return False
    for n in notices:
        if n.kind == "recovered":
            store.close_source_alert(n.source.id)
        else:
            store.mark_source_alert(n.source.id, notified=True)
    log.warning("operators notified: %s", "; ".join(lines[: len(notices)]))
    return True
