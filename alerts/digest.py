"""Subscriptions and what is due: which items each subscriber gets, and when.

Cadences: ``immediate`` (every run), ``hourly``, ``daily HH:MM``, ``weekly DAY HH:MM``,
in the subscriber's time zone. A digest is due when the last one sent is older than the
latest slot of its cadence that has passed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

EMAIL_RE = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$|^[^@\s<>\"',;]+@localhost$")
_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_CADENCE = re.compile(r"^(immediate|hourly|daily\s+(\d{1,2}):(\d{2})|weekly\s+([a-z]{3})[a-z]*\s+(\d{1,2}):(\d{2}))$", re.I)


@dataclass(frozen=True)
class Cadence:
    kind: str                 # immediate | hourly | daily | weekly
    hour: int = 0
    minute: int = 0
    weekday: int = 0

    @classmethod
    def parse(cls, text: str) -> "Cadence":
        m = _CADENCE.match(" ".join(str(text).split()))
        if not m:
            raise ValueError(f"{text!r} is not a cadence; write immediate, hourly, daily HH:MM or weekly MON HH:MM")
        word = m.group(1).split()[0].lower()
        if word in ("immediate", "hourly"):
            return cls(word)
        if word == "daily":
            h, mi = int(m.group(2)), int(m.group(3))
            wd = 0
        else:
            day = m.group(4).lower()
            if day not in _DAYS:
                raise ValueError(f"unknown day {m.group(4)!r}; use MON, TUE, WED, THU, FRI, SAT or SUN")
            wd, h, mi = _DAYS[day], int(m.group(5)), int(m.group(6))
        if h > 23 or mi > 59:
            raise ValueError(f"{text!r}: time must be between 00:00 and 23:59")
        return cls(word, h, mi, wd)

    def last_slot(self, now: datetime, tz: ZoneInfo) -> datetime:
        """The latest scheduled moment at or before ``now`` (aware, UTC)."""
        local = now.astimezone(tz)
        if self.kind == "immediate":
            return now
        if self.kind == "hourly":
            slot = local.replace(minute=0, second=0, microsecond=0)
        elif self.kind == "daily":
            slot = local.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
            if slot > local:
                slot -= timedelta(days=1)
        else:
            slot = local.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
            slot -= timedelta(days=(slot.weekday() - self.weekday) % 7)
            if slot > local:
                slot -= timedelta(days=7)
        # rebuild through the zone so a DST change between now and the slot is respected
        slot = datetime(slot.year, slot.month, slot.day, slot.hour, slot.minute, tzinfo=tz)
        return slot.astimezone(timezone.utc)

    def is_due(self, last_sent: Optional[datetime], now: datetime, tz: ZoneInfo) -> bool:
        if self.kind == "immediate" or last_sent is None:
            return True
        return last_sent < self.last_slot(now, tz)


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

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        v = v.strip()
        if not EMAIL_RE.match(v):
            raise ValueError(f"{v!r} is not an email address")
        return v

    @field_validator("digest")
    @classmethod
    def _cadence(cls, v: str) -> str:
        Cadence.parse(v)
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as Europe/Minsk")
        return v

    @property
    def cadence(self) -> Cadence:
        return Cadence.parse(self.digest)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
