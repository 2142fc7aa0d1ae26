"""Crawling through the real CLI and real crawl children, against local sites: health,
conditional requests, fallbacks, retries, time limits, verbose reports, logs."""

from __future__ import annotations

import json
import time

from newswatch.storage.alerts_repo import AlertsRepository
from newswatch.storage.engine import Database
from tests.conftest import write_settings
from tests.helpers import rss


def settings_for(sources_yaml: str, extra: str = "", crawl: str = "") -> str:
    return f"""
storage: {{url: "sqlite:///nw.db"}}
crawl: {{delay: 0s, retries: 1, timeout: 10s, autothrottle: false{crawl}}}
sources:
{sources_yaml}
terms:
  belarus: [Belarus]
topics:
  - {{id: belarus, all: [belarus]}}
subscribers: []
{extra}
"""


def feed_source(site, sid="feed", path="/rss", extra=""):
    return f"  - {{id: {sid}, kind: feed, url: '{site.base}{path}', obey_robots: false{extra}}}"


def test_conditional_requests_and_a_retitled_item(run_cli, tmp_path, site):
    items = [{"title": "Belarus trade grows", "link": "{{base}}/a/1", "guid": "g1"},
             {"title": "Belarus hosts forum", "link": "{{base}}/a/2", "guid": "g2"}]
    site.add("/rss", rss(items), "application/rss+xml")
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(feed_source(site)))
    code, out, _ = run_cli("crawl", config=cfg)
    assert "feed: ok, 2 items (2 new, 0 updated)" in out and code == 0
    before = len(site.requests)
    code, out, _ = run_cli("crawl", config=cfg)
    assert "feed: not modified" in out
    assert "If-None-Match" in [r for r in site.requests if r["path"] == "/rss"][-1]["headers"]
    # one conditional request from the parent and no crawl child (which would ask again)
    assert len(site.requests) - before == 1
    items[0]["title"] = "Belarus trade grows by 12 percent"          # the publisher re-titles an item
    site.add("/rss", rss(items), "application/rss+xml")
    code, out, _ = run_cli("crawl", config=cfg)
    assert "feed: ok, 2 items (0 new, 1 updated)" in out
    code, out, _ = run_cli("items", "--json", "--all", config=cfg)
    assert sorted(json.loads(line)["title"] for line in out.splitlines()) == \
        ["Belarus hosts forum", "Belarus trade grows by 12 percent"]


def test_retry_after_is_waited_for(run_cli, tmp_path, site):
    site.add("/rss", "busy", "text/plain", status=503, headers={"Retry-After": "2"})
    site.add("/rss", rss([{"title": "Belarus", "link": "{{base}}/1", "guid": "1"}]), "application/rss+xml", then=True)
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(feed_source(site)))
    code, out, _ = run_cli("crawl", config=cfg)
    assert "feed: ok, 1 items" in out, out
    hits = [r["at"] for r in site.requests if r["path"] == "/rss"]
    assert len(hits) == 2
    assert hits[1] - hits[0] >= 1.9, f"retried after {hits[1] - hits[0]:.2f}s; the server asked for 2s"


def test_a_server_asking_for_too_long_is_not_waited_for(run_cli, tmp_path, site):
    site.add("/rss", "busy", "text/plain", status=429, headers={"Retry-After": "3600"})
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(feed_source(site)))
    started = time.monotonic()
    code, out, _ = run_cli("crawl", config=cfg)
    assert time.monotonic() - started < 20
    assert "feed: FAILED" in out and "HTTP 429" in out
    assert len([r for r in site.requests if r["path"] == "/rss"]) == 1


def test_a_dead_source_does_not_stop_the_others(run_cli, tmp_path, site):
    site.add("/rss", rss([{"title": "Belarus news", "link": "{{base}}/a/1", "guid": "g1"}]), "application/rss+xml")
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(
        feed_source(site, "alive") + "\n  - {id: dead, kind: feed, url: 'http://127.0.0.1:9/rss', obey_robots: false}"))
    code, out, _ = run_cli("crawl", config=cfg)
    assert code == 0
    assert "alive: ok, 1 items (1 new" in out
    assert "dead: FAILED" in out and "connection refused" in out.lower()
    code, out, _ = run_cli("sources", config=cfg)
    assert code == 1
    row = next(line for line in out.splitlines() if line.startswith("dead"))
    assert "FAILING" in row and "refused" in row.lower()


def test_every_source_failing_exits_1(run_cli, tmp_path):
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(
        "  - {id: dead, kind: feed, url: 'http://127.0.0.1:9/rss', obey_robots: false}"))
    assert run_cli("crawl", config=cfg)[0] == 1


def test_a_hung_crawl_is_stopped_and_recorded(run_cli, tmp_path, site):
    site.add("/rss", rss([{"title": "Belarus", "link": "{{base}}/1", "guid": "1"}]), "application/rss+xml", delay=30)
    cfg = write_settings(tmp_path / "settings.yaml",
                         settings_for(feed_source(site, "slow"), crawl=", time_limit: 4s").replace("timeout: 10s", "timeout: 60s"))
    started = time.monotonic()
    code, out, _ = run_cli("crawl", config=cfg)
    assert time.monotonic() - started < 25
    assert "slow: FAILED: crawl stopped after the time limit of 4s" in out
    assert "time limit" in run_cli("sources", config=cfg)[1]


def test_json_logs_name_the_source_and_carry_no_traceback(cli, tmp_path):
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(
        "  - {id: dead, kind: feed, url: 'http://127.0.0.1:9/rss', obey_robots: false}"))
    res = cli("--log-format", "json", "crawl", config=cfg)
    records = [json.loads(line) for line in res.stderr.splitlines() if line.startswith("{")]
    assert records and all(line.startswith("{") for line in res.stderr.splitlines() if line.strip())
    assert any(r.get("source") == "dead" and r["level"] == "WARNING" and "crawl failed" in r["message"] for r in records)
    assert "Traceback" not in res.stderr


def test_an_offline_crawl_is_quiet(cli, tmp_path):
    """Five dead sources: a line or two each, no tracebacks, no library chatter."""
    sources = "\n".join(f"  - {{id: dead{i}, kind: feed, url: 'http://127.0.0.1:9/rss{i}', obey_robots: true}}"
                        for i in range(5))
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(sources))
    res = cli("crawl", config=cfg)
    assert "Traceback" not in res.stderr and "scrapy" not in res.stderr.lower()
    assert len(res.stderr.splitlines()) <= 10, res.stderr


ARTICLE_PAGE = """<html><head><title>x</title><script>var tracking = 1;</script></head><body>
<nav><a href="/">Home</a> <a href="/news">News</a> <a href="/about">About</a></nav>
<article><h1>Belarus and Iran open a joint trade house in Minsk</h1>
<p>MINSK, 30 October – Belarus and Iran opened a joint trade house in Minsk on Thursday, the two
ministries said, the latest step in a roadmap signed in Tehran last year.</p>
<p>The trade house will help Belarusian food producers and Iranian machinery makers find partners,
officials said at the opening ceremony attended by both ambassadors.</p>
<p>Trade between the two countries grew by a fifth in the first nine months of the year.</p></article>
<footer>© Example News. All rights reserved. Contact us.</footer></body></html>"""


def test_an_article_without_selectors_is_read_by_the_main_text_extractor(run_cli, tmp_path, site):
    site.add("/news", '<div class="item"><a href="/a/1">Belarus and Iran open a trade house</a></div>')
    site.add("/a/1", ARTICLE_PAGE)
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(
        f"  - {{id: plain, kind: listing, url: '{site.base}/news', obey_robots: false, listing: {{item: div.item}}}}"))
    code, out, err = run_cli("crawl", "--verbose", config=cfg)
    assert "plain: ok, 1 items (1 new" in out, out + err
    assert "article: body: trafilatura" in out
    db = Database(f"sqlite:///{tmp_path}/nw.db")
    (item,) = list(AlertsRepository(db).iter_items())
    db.close()
    assert item.title == "Belarus and Iran open a joint trade house in Minsk"
    assert "joint trade house in Minsk" in item.body and "Trade between the two countries" in item.body
    assert "tracking" not in item.body and "All rights reserved" not in item.body


def test_odd_links_are_skipped_and_the_good_ones_kept(run_cli, tmp_path, site):
    site.add("/news", """<div class="item"><a href="javascript:void(0)">Belarus share</a></div>
<div class="item"><a href="mailto:desk@example.org">Belarus contact</a></div>
<div class="item"><a href="/a/1#comments">Belarus and Iran talks</a><p>Belarus and Iran held talks in Minsk.</p></div>
<div class="item"><a href="/a/1">Belarus and Iran talks</a><p>Belarus and Iran held talks in Minsk.</p></div>""")
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(
        f"  - {{id: odd, kind: listing, url: '{site.base}/news', obey_robots: false, "
        f"listing: {{item: div.item, summary: 'p::text'}}}}"))
    code, out, err = run_cli("crawl", config=cfg)
    assert "odd: ok, 1 items (1 new" in out, out + err
    assert "not a web address: 'javascript:void(0)'" in out


def test_a_feed_with_one_guid_for_every_entry_loses_nothing(run_cli, tmp_path, site):
    items = [{"title": f"Belarus story {i}", "link": "{{base}}/story/%d" % i, "guid": "https://site/feed"} for i in range(4)]
    site.add("/rss", rss(items), "application/rss+xml")
    cfg = write_settings(tmp_path / "settings.yaml", settings_for(feed_source(site)))
    code, out, _ = run_cli("crawl", config=cfg)
    assert "feed: ok, 4 items (4 new" in out
    assert "same GUID" in out
    code, out, _ = run_cli("items", "--json", "--all", config=cfg)
    got = {json.loads(line)["title"]: json.loads(line)["url"] for line in out.splitlines()}
    assert got == {f"Belarus story {i}": f"{site.base}/story/{i}" for i in range(4)}
