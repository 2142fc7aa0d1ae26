"""Table-driven: dates as the sites print them, URL canonicalisation, page encodings."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newswatch.spiders.dates import parse_date
from newswatch.spiders.encoding import decode_body
from newswatch.spiders.urls import canonical_url, identity_key

UTC = timezone.utc

DATES = [
    # (text, zone for zone-less dates, expected UTC)
    ("Thu, 30 Oct 2025 10:13:00 +0300", None, datetime(2025, 10, 30, 7, 13, tzinfo=UTC)),
    ("Thu, 30 Oct 2025 10:13:00 GMT", None, datetime(2025, 10, 30, 10, 13, tzinfo=UTC)),
    ("30 Oct 2025 10:13:00 -0000", "Europe/Minsk", datetime(2025, 10, 30, 7, 13, tzinfo=UTC)),
    ("2025-10-30T10:13:00Z", None, datetime(2025, 10, 30, 10, 13, tzinfo=UTC)),
    ("2025-10-30T10:13:00+03:00", "Asia/Shanghai", datetime(2025, 10, 30, 7, 13, tzinfo=UTC)),
    ("2025-08-31 20:41:09", "Asia/Shanghai", datetime(2025, 8, 31, 12, 41, 9, tzinfo=UTC)),
    ("08 января 2026, 19:51", "Europe/Minsk", datetime(2026, 1, 8, 16, 51, tzinfo=UTC)),
    ("12 января 2026 г., 15:40", "Europe/Minsk", datetime(2026, 1, 12, 12, 40, tzinfo=UTC)),
    ("2 мая 2024 года в 10:00", "Europe/Minsk", datetime(2024, 5, 2, 7, 0, tzinfo=UTC)),
    ("12 сакавіка 2023", "Europe/Minsk", datetime(2023, 3, 11, 21, 0, tzinfo=UTC)),
    ("22 верасня 2025, 14:05", "Europe/Minsk", datetime(2025, 9, 22, 11, 5, tzinfo=UTC)),
    ("5 лістапада 2024", "Europe/Minsk", datetime(2024, 11, 4, 21, 0, tzinfo=UTC)),
    ("20 August 2025, 10:13", "Europe/Minsk", datetime(2025, 8, 20, 7, 13, tzinfo=UTC)),
    ("September 17, 2021", "UTC", datetime(2021, 9, 17, tzinfo=UTC)),
    ("Published: Sep 01, 2025 10:42 PM", "Asia/Shanghai", datetime(2025, 9, 1, 14, 42, tzinfo=UTC)),
    ("09.01.2017", "Asia/Shanghai", datetime(2017, 1, 8, 16, 0, tzinfo=UTC)),
    ("13.10.2023 18:40", "Europe/Minsk", datetime(2023, 10, 13, 15, 40, tzinfo=UTC)),
    ("Четверг, 8 января 2026", "Europe/Minsk", datetime(2026, 1, 7, 21, 0, tzinfo=UTC)),
    ("1 March 2013 12:00", "Europe/Minsk", datetime(2013, 3, 1, 9, 0, tzinfo=UTC)),
    ("10/30/2025 10:13", "UTC", datetime(2025, 10, 30, 10, 13, tzinfo=UTC)),
    ("30 окт. 2025", "Europe/Minsk", datetime(2025, 10, 29, 21, 0, tzinfo=UTC)),
    ("", "UTC", None),
    ("no date here", "UTC", None),
    ("31 февраля 2025", "UTC", None),
]


@pytest.mark.parametrize("text,tz,expected", DATES, ids=[d[0] or "empty" for d in DATES])
def test_dates(text, tz, expected):
    assert parse_date(text, tz) == expected


NOW = datetime(2026, 1, 8, 12, 0, tzinfo=UTC)        # 15:00 in Minsk
RELATIVE = [
    ("Сегодня, 14:30", datetime(2026, 1, 8, 11, 30, tzinfo=UTC)),
    ("вчера в 09:05", datetime(2026, 1, 7, 6, 5, tzinfo=UTC)),
    ("Учора, 23:10", datetime(2026, 1, 7, 20, 10, tzinfo=UTC)),
    ("Yesterday at 18:00", datetime(2026, 1, 7, 15, 0, tzinfo=UTC)),
    ("14:02", datetime(2026, 1, 8, 11, 2, tzinfo=UTC)),
    ("23:50", datetime(2026, 1, 7, 20, 50, tzinfo=UTC)),       # later than now: yesterday evening
    ("25:99", None),
]


@pytest.mark.parametrize("text,expected", RELATIVE, ids=[r[0] for r in RELATIVE])
def test_relative_dates(text, expected):
    assert parse_date(text, "Europe/Minsk", now=NOW) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80), st.sampled_from(["UTC", "Europe/Minsk", "Asia/Tehran"]))
def test_date_parsing_never_fails(text, tz):
    result = parse_date(text, tz)
    assert result is None or result.tzinfo is not None


URLS = [
    ("HTTPS://Eng.BelTA.by/politics/view/x-1-2025/?utm_source=rss&utm_medium=feed#top",
     "https://eng.belta.by/politics/view/x-1-2025/"),
    ("https://www.belta.by:443/a?b=2&a=1&fbclid=zz", "https://www.belta.by/a?a=1&b=2"),
    ("http://example.org:8080/x?id=5&gclid=1", "http://example.org:8080/x?id=5"),
    ("https://ctv.by/news/politika/Slug-With-Case", "https://ctv.by/news/politika/Slug-With-Case"),
    ("https://example.org", "https://example.org/"),
    ("https://example.org/?page=0", "https://example.org/?page=0"),
]


@pytest.mark.parametrize("url,expected", URLS)
def test_canonical_url(url, expected):
    assert canonical_url(url) == expected


def test_identity_ignores_scheme_and_www():
    assert identity_key("http://www.belta.by/x/") == identity_key("https://belta.by/x/?utm_campaign=a")
    assert identity_key("https://belta.by/x/") != identity_key("https://belta.by/y/")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_canonicalisation_is_idempotent(path):
    once = canonical_url("https://Example.org/" + path)
    assert canonical_url(once) == once


ENCODED = [
    # (bytes, content-type header, expected text, why)
    ("Привет, Минск".encode("cp1251"), "text/html; charset=windows-1251", "Привет, Минск", "header right"),
    ("<meta charset='koi8-r'>Привет, Минск".encode("koi8_r"), "text/html", "Привет, Минск", "meta right"),
    ("<meta charset='windows-1251'>Привет, Минск".encode("cp1251"), "text/html; charset=utf-8", "Привет, Минск",
     "header lies"),
    ("<?xml version='1.0' encoding='windows-1251'?><a>Мінск</a>".encode("cp1251"), None, "Мінск", "xml decl"),
    ("Привет, Минск".encode(), "text/html; charset=windows-1251", "Привет, Минск", "utf-8 labelled 1251"),
    ("Привет, Минск — новости Беларуси".encode("cp1251"), None, "Привет, Минск", "nothing declared"),
    (b"\xef\xbb\xbf" + "Мінск".encode(), None, "Мінск", "BOM"),
]


@pytest.mark.parametrize("body,ctype,expected,why", ENCODED, ids=[e[3] for e in ENCODED])
def test_decoding(body, ctype, expected, why):
    text, _ = decode_body(body, ctype)
    assert expected in text
