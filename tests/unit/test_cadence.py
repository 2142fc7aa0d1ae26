"""Cadences and their slots, including the days when clocks jump or repeat an hour."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from newswatch.alerts.subscriptions import Cadence, wall_time

UTC = timezone.utc

PARSE = [
    ("immediate", Cadence("immediate")),
    ("hourly", Cadence("hourly")),
    ("daily 08:00", Cadence("daily", 8, 0)),
    ("daily 8:05", Cadence("daily", 8, 5)),
    ("weekly MON 09:30", Cadence("weekly", 9, 30, 0)),
    ("weekly fri 17:00", Cadence("weekly", 17, 0, 4)),
    ("weekly Friday 17:00", Cadence("weekly", 17, 0, 4)),
]


@pytest.mark.parametrize("text,expected", PARSE)
def test_parse(text, expected):
    assert Cadence.parse(text) == expected


@pytest.mark.parametrize("text", ["weekly FRIGHTENING 17:00", "weekly fr 17:00", "daily 25:00", "daily 8am",
                                  "twice a day", "weekly MON", ""])
def test_parse_refuses(text):
    with pytest.raises(ValueError):
        Cadence.parse(text)


def test_gap_takes_the_first_moment_after_it():
    # Havana jumps from 00:00 to 01:00 on 8 March 2026: midnight does not exist that day
    havana = ZoneInfo("America/Havana")
    slot = wall_time(datetime(2026, 3, 8).date(), datetime(2026, 3, 8, 0, 0).time(), havana)
    assert slot.astimezone(havana).strftime("%Y-%m-%d %H:%M") == "2026-03-08 01:00"


def test_repeated_hour_takes_the_first_occurrence():
    # New York repeats 01:00-02:00 on 1 November 2026
    ny = ZoneInfo("America/New_York")
    slot = wall_time(datetime(2026, 11, 1).date(), datetime(2026, 11, 1, 1, 30).time(), ny)
    assert slot == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)       # 01:30 EDT, not 01:30 EST


ZONES = ["America/Santiago", "America/Havana", "Europe/Minsk", "America/New_York", "Asia/Kathmandu",
         "Australia/Lord_Howe", "Asia/Tehran"]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("cadence", ["daily 00:00", "daily 00:30", "daily 02:30", "daily 23:30"])
def test_an_hourly_once_sends_one_daily_digest_per_local_day(zone, cadence):
    """Run `once` every hour for a year: each local day gets exactly one digest, DST days too."""
    tz = ZoneInfo(zone)
    c = Cadence.parse(cadence)
    sent_slot = None
    per_day: dict[str, int] = {}
    now = datetime(2026, 1, 1, 0, 7, tzinfo=UTC)
    while now < datetime(2027, 1, 1, tzinfo=UTC):
        slot = c.last_slot(now, tz)
        if sent_slot is None or sent_slot < slot:
            sent_slot = slot
            day = slot.astimezone(tz).strftime("%Y-%m-%d")
            per_day[day] = per_day.get(day, 0) + 1
        now += timedelta(hours=1)
    assert set(per_day.values()) == {1}
    assert len(per_day) >= 364


@pytest.mark.parametrize("zone", ZONES)
def test_weekly_slots_are_seven_days_of_local_time_apart(zone):
    tz = ZoneInfo(zone)
    c = Cadence.parse("weekly SUN 00:00")
    slots = set()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    while now < datetime(2027, 1, 1, tzinfo=UTC):
        slots.add(c.last_slot(now, tz))
        now += timedelta(hours=5)
    days = sorted(s.astimezone(tz).date() for s in slots)
    assert all((b - a).days == 7 for a, b in zip(days, days[1:]))
    assert all(d.weekday() == 6 for d in days)


def test_hourly_follows_the_local_hour_in_half_hour_zones():
    kathmandu = ZoneInfo("Asia/Kathmandu")      # UTC+05:45
    slot = Cadence.parse("hourly").last_slot(datetime(2026, 5, 1, 10, 20, tzinfo=UTC), kathmandu)
    assert slot.astimezone(kathmandu).minute == 0
    assert slot == datetime(2026, 5, 1, 10, 15, tzinfo=UTC)


def test_next_slot_is_after_last_slot():
    tz = ZoneInfo("Europe/Minsk")
    c = Cadence.parse("daily 08:00")
    now = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)          # 09:00 in Minsk
    assert c.last_slot(now, tz) == datetime(2026, 6, 1, 5, 0, tzinfo=UTC)
    assert c.next_slot(now, tz) == datetime(2026, 6, 2, 5, 0, tzinfo=UTC)
