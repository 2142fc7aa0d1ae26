"""`newswatch probe` on the fixture pages (issue 14): it recognises feeds, sitemaps, JSON
listings, listings and articles, and proposes what to configure — the selectors the
shipped settings use, found from the page alone."""

from __future__ import annotations

import pytest

from newswatch.scheduler.sample_site import SiteServer
from newswatch.spiders.probe import probe
from tests.conftest import DATA

SITES = DATA / "sites"

CASES = [
    # (file, kind, phrases the report must hold)
    ("president-ru/listing.html", "listing", ["li.news-card", "a.news-card__title::attr(href)",
                                              "link_pattern: /ru/events/[^/?#]+$"]),
    ("president-ru-redesigned/listing.html", "listing", ["article.event-tile"]),
    ("president-ru/event-iran.html", "article", ["json-ld datePublished", "Масудом Пезешкианом"]),
    ("president-ru/sitemap.event.xml", "sitemap", ["urlset of 12 entries", "lastmod from"]),
    ("mfa-ru/news_page1.json", "json", ["3 objects at 'news'", "link: 'url'", "date: 'date'"]),
    ("jamestown-edm/feed.xml", "feed", ["4 entries", "categories", "Shanghai Cooperation Organization"]),
]


@pytest.mark.parametrize("path,kind,phrases", CASES, ids=[c[0] for c in CASES])
def test_probe_recognises_the_page_and_proposes_settings(path, kind, phrases):
    found = probe((SITES / path).read_bytes(), "https://example.org/ru/events")
    assert found.kind == kind
    report = found.text()
    for phrase in phrases:
        assert phrase in report, report


def test_probe_command_fetches_a_url_and_says_what_it_found(run_cli):
    site = SiteServer()
    site.add_folder(SITES / "president-ru")
    site.start()
    try:
        code, out, _ = run_cli("probe", f"{site.base}/ru/events")
    finally:
        site.stop()
    assert code == 0
    assert "looks like a listing" in out and "3 × li.news-card" in out
    assert "kind: listing" in out


@pytest.mark.parametrize("target,words", [
    ("http://169.254.169.254/latest/meta-data", "link-local or cloud metadata"),
    ("file:///etc/passwd", "neither a file nor an http(s) address"),
    ("http://127.0.0.1:9/closed", "cannot fetch it"),
])
def test_probe_refuses_or_explains(run_cli, target, words):
    code, out, err = run_cli("probe", target)
    assert code in (1, 2)
    assert words in err and "Traceback" not in err
