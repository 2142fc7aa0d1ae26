"""Dates as the watched sites print them, turned into aware UTC datetimes.

Handles RFC 822 (feeds), ISO 8601 (Atom, <time datetime>), and the sites' own forms:
"08 января 2026, 19:51" (BelTA ru), "12 сакавіка 2023" (Belarusian), "20 August 2025, 10:13"
(BelTA en), "September 17, 2021", "09.01.2017 14:30". A date printed without a zone is
read in the source's time zone (Europe/Minsk for the Belarusian sites).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from typing import Optional
from zoneinfo import ZoneInfo

# Month names by their first letters: genitive and nominative forms share a stem,
# so a prefix table covers "января"/"январь"/"янв." and "студзеня"/"студзень".
_MONTH_PREFIXES: list[tuple[str, int]] = [
    # English
    ("january", 1), ("february", 2), ("march", 3), ("april", 4), ("may", 5), ("june", 6),
    ("july", 7), ("august", 8), ("september", 9), ("sept", 9), ("october", 10),
    ("november", 11), ("december", 12),
    ("jan", 1), ("feb", 2), ("mar", 3), ("apr", 4), ("jun", 6), ("jul", 7), ("aug", 8),
    ("sep", 9), ("oct", 10), ("nov", 11), ("dec", 12),
    # Russian
    ("январ", 1), ("янв", 1), ("феврал", 2), ("фев", 2), ("март", 3), ("мар", 3),
    ("апрел", 4), ("апр", 4), ("ма", 5), ("июн", 6), ("июл", 7), ("август", 8), ("авг", 8),
    ("сентябр", 9), ("сен", 9), ("октябр", 10), ("окт", 10), ("ноябр", 11), ("ноя", 11),
    ("декабр", 12), ("дек", 12),
    # Belarusian
    ("студзен", 1), ("студ", 1), ("лют", 2), ("сакав", 3), ("сак", 3), ("красав", 4),
    ("крас", 4), ("траўн", 5), ("трав", 5), ("чэрвен", 6), ("чэрв", 6), ("ліпен", 7),
    ("ліп", 7), ("жнівен", 8), ("жніўн", 8), ("жн", 8), ("верас", 9), ("вер", 9),
    ("кастрычн", 10), ("кастр", 10), ("лістапад", 11), ("ліст", 11), ("снеж", 12),
]
_MONTH_PREFIXES.sort(key=lambda p: -len(p[0]))  # longest prefix wins ("мар" vs "март")


def month_number(word: str) -> Optional[int]:
    w = word.lower().strip(".").replace("ё", "е")
    if len(w) < 2:
        return None
    for prefix, number in _MONTH_PREFIXES:
        if w.startswith(prefix):
            # "ма" must be May (мая/май), not a longer unrelated word
            if prefix == "ма" and w not in ("мая", "май"):
                continue
            return number
    return None


_TIME = r"(?:[,\s]+(?:в\s+|at\s+|а\s+|у\s+)?(\d{1,2})[:.](\d{2})(?::(\d{2}))?(?:\s*([AaPp])\.?[Mm]\.?)?)?"
_YEAR_WORD = r"(?:\s*(?:года|году|гады|год|г\.?)(?!\w))?"
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})\s+([^\W\d_]{3,}\.?)\s*,?\s+(\d{4})" + _YEAR_WORD + _TIME, re.I)
_MONTH_DAY_YEAR = re.compile(r"([^\W\d_]{3,}\.?)\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})" + _TIME, re.I)
_NUMERIC = re.compile(r"(\d{1,2})[./](\d{1,2})[./](\d{4}|\d{2})" + _TIME)
_ISOISH = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T\s](\d{2}):(\d{2})(?::(\d{2}))?")


def _zone(tz: str | tzinfo | None) -> tzinfo:
    if tz is None:
        return timezone.utc
    if isinstance(tz, str):
        return ZoneInfo(tz)
    return tz


def _finish(dt: datetime, tz: tzinfo) -> datetime:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(timezone.utc)


def _build(y: int, mo: int, d: int, h: Optional[str], mi: Optional[str], s: Optional[str],
           ampm: Optional[str], tz: tzinfo) -> Optional[datetime]:
    if y < 100:
        y += 2000
    hour = int(h or 0)
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm.lower() == "p" else 0)
    try:
        dt = datetime(y, mo, d, hour, int(mi or 0), int(s or 0))
    except ValueError:
        return None
    return _finish(dt, tz)


def parse_date(text: Optional[str], tz: str | tzinfo | None = None,
               now: Optional[datetime] = None) -> Optional[datetime]:
    """Parse a date string; returns an aware UTC datetime or None when nothing fits.

    ``tz`` is the zone for dates printed without one.
    """
    if not text:
        return None
    text = " ".join(str(text).split())
    if not text:
        return None
    zone = _zone(tz)

    # ISO 8601, the strict form first (keeps an explicit offset)
    iso = text.replace("Z", "+00:00") if text.endswith("Z") else text
    try:
        return _finish(datetime.fromisoformat(iso), zone)
    except ValueError:
        pass

    # RFC 822 / 2822 ("Thu, 30 Oct 2025 10:13:00 +0300"); a missing or "-0000" zone is local
    if re.match(r"^(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s+\d{1,2}:\d{2}", text):
        try:
            dt = parsedate_to_datetime(text)
            return _finish(dt, zone)
        except (TypeError, ValueError, IndexError):
            pass

    m = _ISOISH.search(text)
    if m:
        y, mo, d, h, mi, s = m.groups()
        return _build(int(y), int(mo), int(d), h, mi, s, None, zone)

    m = _DAY_MONTH_YEAR.search(text)
    if m:
        d, word, y, h, mi, s, ampm = m.groups()
        mo = month_number(word)
        if mo:
            return _build(int(y), mo, int(d), h, mi, s, ampm, zone)

    m = _MONTH_DAY_YEAR.search(text)
    if m:
        word, d, y, h, mi, s, ampm = m.groups()
        mo = month_number(word)
        if mo:
            return _build(int(y), mo, int(d), h, mi, s, ampm, zone)

    m = _NUMERIC.search(text)
    if m:
        d, mo, y, h, mi, s, ampm = m.groups()
        if int(mo) > 12 >= int(d):          # 10/30/2025: the American order
            d, mo = mo, d
        return _build(int(y), int(mo), int(d), h, mi, s, ampm, zone)
    return _relative(text, zone, now)


_TODAY = re.compile(r"^\s*(?:(сегодня|сёння|today)|(вчера|учора|ўчора|yesterday))?[,\s]*(?:в\s+|at\s+|а\s+)?"
                    r"(\d{1,2})[:.](\d{2})\s*$", re.I)


def _relative(text: str, zone: tzinfo, now: Optional[datetime]) -> Optional[datetime]:
    """"Сегодня, 14:30", "вчера 09:05", "Yesterday at 18:00", or a bare "19:51" (today)."""
    m = _TODAY.match(text)
    if not m:
        return None
    local_now = (now or datetime.now(timezone.utc)).astimezone(zone)
    day = local_now.date()
    hour, minute = int(m.group(3)), int(m.group(4))
    if hour > 23 or minute > 59:
        return None
    if m.group(2):
        day = day - timedelta(days=1)
    dt = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    if not m.group(1) and not m.group(2) and dt > local_now + timedelta(hours=1):
        dt -= timedelta(days=1)             # a bare late-evening time seen after midnight
    return dt.astimezone(timezone.utc)
