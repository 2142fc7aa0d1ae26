"""Subscriptions and their cadences: who gets which topics, and when a digest is due.

Cadences: ``immediate`` (every run), ``hourly``, ``daily HH:MM``, ``weekly DAY HH:MM``, in
the subscriber's time zone. Each cadence has *slots*: the moments its digests are for. A
digest is due when no digest was sent for the latest slot that has passed; a failed one is
retried with backoff until it goes out or the next slot supersedes it.

Local times that do not exist on a DST day (00:00 in America/Santiago or America/Havana
when clocks jump forward) fall at the first moment after the gap; local times that happen
twice (when clocks go back) fall at the first occurrence. Every local day has exactly one
daily slot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Optional
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from newswatch.spiders.sources import check_timezone

EMAIL_RE = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$|^[^@\s<>\"',;]+@localhost$")
CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
DAY_NAMES = {"monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6}
_CADENCE = re.compile(r"^(immediate|hourly|daily\s+(\d{1,2}):(\d{2})|weekly\s+([a-z]+)\s+(\d{1,2}):(\d{2}))$", re.I)


def check_header_value(value: str, what: str = "this value") -> str:
    """Values that end up in mail headers: one line, no control characters."""
    if CONTROL.search(value):
        raise ValueError(f"{what} contains a line break or control character; it would break the email headers")
    return value


def check_email(value: str) -> str:
    value = check_header_value(value.strip(), "the address")
    if not EMAIL_RE.match(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


def wall_time(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The moment (UTC) a local wall time happens on ``day``: the first occurrence when the
    clocks go back, the first moment after the gap when they jump forward."""
    first = datetime.combine(day, at, tzinfo=zone).replace(fold=0)
    utc = first.astimezone(timezone.utc)
    back = utc.astimezone(zone)
    if back.replace(tzinfo=None) == datetime.combine(day, at):
        return utc
    # the wall time fell into a gap: the gap ends at the first UTC moment whose local date
    # is ``day`` and whose local time is after ``at``
    probe = utc - timedelta(hours=3)
    while probe.astimezone(zone).replace(tzinfo=None) < datetime.combine(day, at):
        probe += timedelta(minutes=15)
    return probe


def _local_hour(now: datetime, zone: ZoneInfo) -> datetime:
    """The start of the local hour containing ``now`` (zones at :30 and :45 included)."""
    offset = now.astimezone(zone).utcoffset() or timedelta(0)
    local = (now + offset).replace(minute=0, second=0, microsecond=0)
    return local - offset


@dataclass(frozen=True)
class Cadence:
    kind: str                 # immediate | hourly | daily | weekly
    hour: int = 0
    minute: int = 0
    weekday: int = 0

    @classmethod
    def parse(cls, text: str) -> Cadence:
        m = _CADENCE.match(" ".join(str(text).split()))
        if not m:
            raise ValueError(f"{text!r} is not a cadence; write immediate, hourly, daily HH:MM or weekly MON HH:MM")
        word = m.group(1).split()[0].lower()
        if word in ("immediate", "hourly"):
            return cls(word)
        if word == "daily":
            h, mi, wd = int(m.group(2)), int(m.group(3)), 0
        else:
            day = m.group(4).lower()
            wd = DAYS.get(day, DAY_NAMES.get(day, -1))
            if wd < 0:
                raise ValueError(f"unknown day {m.group(4)!r}; use MON, TUE, WED, THU, FRI, SAT or SUN "
                                 f"(or the full name)")
            h, mi = int(m.group(5)), int(m.group(6))
        if h > 23 or mi > 59:
            raise ValueError(f"{text!r}: the time must be between 00:00 and 23:59")
        return cls(word, h, mi, wd)

    def last_slot(self, now: datetime, zone: ZoneInfo) -> datetime:
        """The latest slot at or before ``now`` (UTC)."""
        if self.kind == "immediate":
            return now
        if self.kind == "hourly":
            return _local_hour(now, zone)
        today = now.astimezone(zone).date()
        for back in range(0, 16):
            day = today - timedelta(days=back)
            if self.kind == "weekly" and day.weekday() != self.weekday:
                continue
            slot = wall_time(day, time(self.hour, self.minute), zone)
            if slot <= now:
                return slot
        raise AssertionError("no slot in 16 days")   # pragma: no cover - a week always has one

    def next_slot(self, now: datetime, zone: ZoneInfo) -> datetime:
        if self.kind == "immediate":
            return now
        if self.kind == "hourly":
            return _local_hour(now, zone) + timedelta(hours=1)
        today = now.astimezone(zone).date()
        for ahead in range(0, 16):
            day = today + timedelta(days=ahead)
            if self.kind == "weekly" and day.weekday() != self.weekday:
                continue
            slot = wall_time(day, time(self.hour, self.minute), zone)
            if slot > now:
                return slot
        raise AssertionError("no slot in 16 days")   # pragma: no cover

    def describe(self) -> str:
        if self.kind in ("immediate", "hourly"):
            return self.kind
        at = f"{self.hour:02d}:{self.minute:02d}"
        if self.kind == "daily":
            return f"daily {at}"
        return f"weekly {[k for k, v in DAYS.items() if v == self.weekday][0].upper()} {at}"


class Subscription(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    email: str
    topics: list[str] = Field(min_length=1)
    digest: str = "daily 08:00"
    timezone: str = "UTC"
    min_score: float = 0.0
    languages: Optional[list[str]] = None
    send_empty: bool = False
    max_per_topic: Optional[int] = Field(default=None, ge=1, le=1000)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = check_header_value(v, "the subscriber name")
        if not v.strip():
            raise ValueError("a subscriber needs a name")
        return v

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        return check_email(v)

    @field_validator("digest")
    @classmethod
    def _cadence(cls, v: str) -> str:
        Cadence.parse(v)
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return check_timezone(v)

    @property
    def cadence(self) -> Cadence:
        return Cadence.parse(self.digest)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
