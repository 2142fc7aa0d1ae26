"""Issue 4 through the real CLI: source health, layout changes, conditional requests,
re-titled items, feed fallback, Retry-After, verbose selector report."""

from __future__ import annotations

import json
import time

from scheduler.sample_site import SiteServer
from tests.conftest import DATA, rss, write_settings


def settings_for(sources_yaml: str, extra: str = "") -> str:
    return f"""
storage: {{url: "sqlite:///nw.db"}}
crawl: {{delay: 0s, retries: 1, timeout: 10s, autothrottle: false}}
sources:
{sources_yaml}
terms:
  belarus: [Belarus]
topics:
  - {{id: belarus, all: [belarus]}}
{extra}
"""


def test_layout_change_is_reported_by_sources(cli, tmp_path, fixture_site):
    site = fixture_site("layout-changed")
    spec = (DATA / "layout-changed" / "source.yaml").read_text("utf-8").replace("{{base}}", site.base)
    src = "\n".join("  " + ("- " if i == 0 else "  ") + line for i, line in
                    enumerate(l for l in spec.splitlines() if l.strip() and not l.startswith("#")))
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(src))
    res = cli("crawl", config=cfg)
    assert "layout-changed: FAILED" in res.stdout
    table = cli("sources", config=cfg)
    assert table.returncode == 1
    row = next(l for l in table.stdout.splitlines() if l.startswith("layout-changed"))
    assert "FAILING" in row and "div.opinions-list article.opinion-card" in row and "layout changed?" in row
    data = json.loads(cli("sources", "--json", config=cfg).stdout.splitlines()[0])
    assert data["consecutive_failures"] == 1 and data["http_status"] == 200


def test_conditional_requests_and_retitled_item(cli, tmp_path, site):
    items = [{"title": "Belarus trade grows", "link": "{{base}}/a/1", "guid": "g1"},
             {"title": "Belarus hosts forum", "link": "{{base}}/a/2", "guid": "g2"}]
    site.add("/rss", rss(items), "application/rss+xml")
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(
        f"  - {{id: feed, kind: feed, url: '{site.base}/rss', obey_robots: false}}"))
    first = cli("crawl", config=cfg)
    assert "feed: ok, 2 items (2 new, 0 updated)" in first.stdout
    second = cli("crawl", config=cfg)
    assert "feed: not modified" in second.stdout
    feed_requests = [r for r in site.requests if r["path"] == "/rss"]
    assert "If-None-Match" in feed_requests[-1]["headers"]
    # the publisher re-titles an item: it is updated, not duplicated
    items[0]["title"] = "Belarus trade grows by 12 percent"
    site.add("/rss", rss(items), "application/rss+xml")
    third = cli("crawl", config=cfg)
    assert "feed: ok, 2 items (0 new, 1 updated)" in third.stdout
    listed = [json.loads(l) for l in cli("items", "--json", config=cfg).stdout.splitlines()]
    assert sorted(i["title"] for i in listed) == ["Belarus hosts forum", "Belarus trade grows by 12 percent"]


def test_feed_falls_back_to_listing(cli, tmp_path):
    with SiteServer() as site:
        site.add_folder(DATA / "belta-en")
        site.add("/rss", "not found", "text/html", status=404)
        spec = (DATA / "belta-en" / "source.yaml").read_text("utf-8").replace("{{base}}", site.base)
        src = "\n".join("  " + ("- " if i == 0 else "  ") + line for i, line in
                        enumerate(l for l in spec.splitlines() if l.strip() and not l.lstrip().startswith("#")))
        cfg = write_settings(tmp_path / "settings.yaml", settings_for(src))
        res = cli("crawl", config=cfg)
    assert "belta-en: ok, 4 items (4 new, 0 updated)" in res.stdout and "via fallback" in res.stdout
    assert "answered HTTP 404; trying fallback" in res.stdout


def test_retry_after_is_honoured(cli, tmp_path, site):
    site.add("/rss", "busy", "text/plain", status=503, headers={"Retry-After": "2"})
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(
        f"  - {{id: feed, kind: feed, url: '{site.base}/rss', obey_robots: false}}"))
    res = cli("crawl", config=cfg)
    hits = [r for r in site.requests if r["path"] == "/rss"]
    assert len(hits) == 2                                   # retries: 1
    assert "feed: FAILED" in res.stdout and "HTTP 503" in res.stdout


def test_verbose_crawl_shows_selectors(cli, tmp_path, fixture_site):
    site = fixture_site("sco-en")
    spec = (DATA / "sco-en" / "source.yaml").read_text("utf-8").replace("{{base}}", site.base)
    src = "\n".join("  " + ("- " if i == 0 else "  ") + line for i, line in
                    enumerate(l for l in spec.splitlines() if l.strip() and not l.lstrip().startswith("#")))
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(src))
    res = cli("crawl", "sco-en", "--verbose", config=cfg)
    assert res.returncode == 0, res.stderr
    assert "page 1: item: div.b-news-list div.b-news-list__item → 3" in res.stdout or "page 1: item:" in res.stdout
    assert "article: title: h1.b-article__title" in res.stdout


def test_dead_source_does_not_stop_the_others(cli, tmp_path, site):
    site.add("/rss", rss([{"title": "Belarus news", "link": "{{base}}/a/1", "guid": "g1"}]), "application/rss+xml")
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(
        f"  - {{id: alive, kind: feed, url: '{site.base}/rss', obey_robots: false}}\n"
        f"  - {{id: dead, kind: feed, url: 'http://127.0.0.1:9/rss', obey_robots: false}}"))
    res = cli("crawl", config=cfg)
    assert res.returncode == 0
    assert "alive: ok, 1 items (1 new" in res.stdout
    assert "dead: FAILED" in res.stdout and "Connection" in res.stdout


def test_hung_crawl_is_stopped_and_recorded(cli, tmp_path, site):
    site.add("/rss", rss([{"title": "Belarus", "link": "{{base}}/1", "guid": "1"}]), "application/rss+xml", delay=30)
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(
        f"  - {{id: slow, kind: feed, url: '{site.base}/rss', obey_robots: false}}").replace(
        "timeout: 10s", "timeout: 60s, time_limit: 4s"))
    started = time.monotonic()
    res = cli("crawl", config=cfg)
    assert time.monotonic() - started < 25
    assert "slow: FAILED: crawl stopped after the time limit of 4s" in res.stdout
    table = cli("sources", config=cfg)
    assert "time limit" in table.stdout


def test_json_logs_name_the_source(cli, tmp_path):
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(
        "  - {id: dead, kind: feed, url: 'http://127.0.0.1:9/rss', obey_robots: false}"))
    res = cli("--log-format", "json", "crawl", config=cfg)
    records = [json.loads(l) for l in res.stderr.splitlines() if l.startswith("{")]
    assert any(r.get("source") == "dead" and r["level"] == "WARNING" and "crawl failed" in r["message"] for r in records), res.stderr


def test_status_lists_jobs(cli, tmp_path, site):
    site.add("/rss", rss([{"title": "Belarus", "link": "{{base}}/1", "guid": "1"}]), "application/rss+xml")
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(
        f"  - {{id: feed, kind: feed, url: '{site.base}/rss', obey_robots: false, interval: 10m}}"))
    cli("crawl", config=cfg)
    rows = [json.loads(l) for l in cli("status", "--json", config=cfg).stdout.splitlines()]
    crawl = next(r for r in rows if r["job"] == "crawl:feed")
    assert crawl["schedule"] == "every 600s" and crawl["last_result"] == "ok, 1 new" and crawl["last_run"]


ARTICLE_PAGE = """<html><head><title>x</title><script>var tracking = 1;</script></head><body>
<nav><a href="/">Home</a> <a href="/news">News</a> <a href="/about">About</a></nav>
<article><h1>Belarus and Iran open a joint trade house in Minsk</h1>
<p>MINSK, 30 October – Belarus and Iran opened a joint trade house in Minsk on Thursday, the two
ministries said, the latest step in a roadmap signed in Tehran last year.</p>
<p>The trade house will help Belarusian food producers and Iranian machinery makers find partners,
officials said at the opening ceremony attended by both ambassadors.</p>
<p>Trade between the two countries grew by a fifth in the first nine months of the year.</p></article>
<footer>© Example News. All rights reserved. Contact us.</footer></body></html>"""


def test_article_without_selectors_uses_the_main_text_extractor(cli, tmp_path, site):
    site.add("/news", '<div class="item"><a href="/a/1">Belarus and Iran open a trade house</a></div>')
    site.add("/a/1", ARTICLE_PAGE)
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(
        f"  - {{id: plain, kind: listing, url: '{site.base}/news', obey_robots: false, listing: {{item: div.item}}}}"))
    res = cli("crawl", config=cfg)
    assert "plain: ok, 1 items (1 new" in res.stdout, res.stdout + res.stderr
    (item,) = [json.loads(l) for l in cli("items", "--json", "--all", config=cfg).stdout.splitlines()]
    body = json.loads(cli("match", "--json", "--text", "x", config=cfg).stdout)   # the CLI still answers
    assert body == {"topics": [], "hits": []}
    from spiders.store import Store
    store = Store(f"sqlite:///{tmp_path}/nw.db")
    stored = store.get_item(item["id"])
    store.close()
    assert "joint trade house in Minsk" in stored.body and "Trade between the two countries" in stored.body
    assert "tracking" not in stored.body and "All rights reserved" not in stored.body


def test_listing_with_odd_links_keeps_the_good_ones(cli, tmp_path, site):
    site.add("/news", """<div class="item"><a href="javascript:void(0)">Belarus share</a></div>
<div class="item"><a href="mailto:desk@example.org">Belarus contact</a></div>
<div class="item"><a href="/a/1#comments">Belarus and Iran talks</a><p>Belarus and Iran held talks in Minsk.</p></div>
<div class="item"><a href="/a/1">Belarus and Iran talks</a><p>Belarus and Iran held talks in Minsk.</p></div>""")
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(
        f"  - {{id: odd, kind: listing, url: '{site.base}/news', obey_robots: false, "
        f"listing: {{item: div.item, summary: 'p::text'}}}}"))
    res = cli("crawl", config=cfg)
    assert "odd: ok, 1 items (1 new" in res.stdout, res.stdout + res.stderr
    assert "not a web address: 'javascript:void(0)'" in res.stdout
