"""`newswatch run` as a real process against local sites and a local SMTP server, one
scenario per test: delivery, live settings changes, operator alerts, stop and restart, a
`once` beside it, a quiet log."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from newswatch.scheduler.sample_site import SiteServer
from tests.conftest import newswatch_cmd
from tests.helpers import rss, wait_for

pytestmark = pytest.mark.slow

SETTINGS = """
storage: {{url: "sqlite:///state/nw.db"}}
crawl: {{delay: 0s, retries: 0, timeout: 5s, interval: 2s, autothrottle: false}}
sources:
  - {{id: belta, name: BelTA, kind: feed, url: "{a}/rss", obey_robots: false}}
{extra}
terms:
  belarus: [Belarus, Minsk]
topics:
  - {{id: belarus, all: [belarus]}}
subscribers:
  - {{name: desk, email: desk@example.org, topics: [belarus], digest: immediate}}
operators:
  - {{name: ops, email: ops@example.org}}
health: {{alert_after_failures: 2}}
email:
  from: "newswatch <nw@example.org>"
  transport: smtp
  smtp: {{host: 127.0.0.1, port: {port}}}
"""


class Service:
    def __init__(self, folder: Path, text: str):
        self.folder = folder
        self.cfg = folder / "settings.yaml"
        self.cfg.write_text(text)
        self.log = folder / "service.log"
        self.proc = None

    def start(self) -> Service:
        env = {k: v for k, v in os.environ.items() if k not in ("NEWSWATCH_CONFIG", "NEWSWATCH_LOG_LEVEL")}
        self.proc = subprocess.Popen(newswatch_cmd() + ["--config", str(self.cfg), "run"], stdout=subprocess.DEVNULL,
                                     stderr=self.log.open("ab"), env=env, cwd=self.folder)
        return self

    def stop(self) -> float:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            assert self.proc.wait(timeout=30) == 0
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        return time.monotonic() - started

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def crawls(self, source: str = "belta") -> int:
        try:
            with sqlite3.connect(self.folder / "state" / "nw.db", timeout=10) as conn:
                return conn.execute("select count(*) from crawl_runs where source_id = ?", (source,)).fetchone()[0]
        except sqlite3.OperationalError:
            return 0


@pytest.fixture
def service(tmp_path, smtp_server):
    made = []

    def make(site: SiteServer, extra: str = "") -> Service:
        s = Service(tmp_path, SETTINGS.format(a=site.base, port=smtp_server.port, extra=extra))
        made.append(s)
        return s.start()

    yield make
    for s in made:
        if s.proc and s.proc.poll() is None:
            s.proc.kill()


def test_new_items_arrive_and_sigterm_stops_within_seconds(service, smtp_server, site):
    items = [{"title": "Belarus item one", "link": "{{base}}/1", "guid": "1"}]
    site.add("/rss", rss(items), "application/rss+xml")
    svc = service(site)
    wait_for(lambda: "Belarus item one" in smtp_server.titles("desk@example.org"), what="first digest")
    items.append({"title": "Belarus item two", "link": "{{base}}/2", "guid": "2"})
    site.add("/rss", rss(items), "application/rss+xml")
    wait_for(lambda: "Belarus item two" in smtp_server.titles("desk@example.org"), what="second item")
    took = svc.stop()
    assert took < 10, f"stopping took {took:.1f}s"
    log = svc.text()
    assert "newswatch service started: 1 source(s), 1 subscriber(s)" in log
    assert "service stopped" in log and "Traceback" not in log
    assert smtp_server.titles("desk@example.org").count("Belarus item one") == 1


def test_live_settings_changes_are_applied_or_refused(service, smtp_server, site):
    site.add("/rss", rss([{"title": "Belarus item one", "link": "{{base}}/1", "guid": "1"}]), "application/rss+xml")
    with SiteServer() as c:
        c.add("/rss", rss([{"title": "Minsk item from the new source", "link": "{{base}}/c1", "guid": "c1"}]),
              "application/rss+xml")
        svc = service(site)
        wait_for(lambda: "Belarus item one" in smtp_server.titles("desk@example.org"), what="first digest")
        good = svc.cfg.read_text()
        # a source added live is crawled at once, not after its interval
        svc.cfg.write_text(good.replace("\nterms:", f'\n  - {{id: newsrc, kind: feed, url: "{c.base}/rss", '
                                        f'obey_robots: false, interval: 1h}}\nterms:'))
        wait_for(lambda: "Minsk item from the new source" in smtp_server.titles("desk@example.org"), timeout=20,
                 what="the new source crawled at once")
        assert "settings changed, applied: added crawl:newsrc (every 1h)" in svc.text()
        # a broken edit, an empty file and a half-written one are refused; the service goes on
        for bad, words in ((good.replace("topics: [belarus]", "topics: [belarus-typo]"), "unknown topic 'belarus-typo'"),
                           ("", "settings file is empty"),
                           (good.split("subscribers:")[0], "required section 'subscribers:'")):
            svc.cfg.write_text(bad)
            wait_for(lambda: words in svc.text(), what=f"refusal: {words}")
        svc.cfg.write_text(good)                               # the first settings again: newsrc goes
        wait_for(lambda: "removed crawl:newsrc" in svc.text(), what="the good file applied again")
        assert svc.proc.poll() is None
    svc.stop()


def test_a_rename_that_keeps_the_old_mtime_is_noticed(service, smtp_server, site):
    site.add("/rss", rss([{"title": "Belarus item one", "link": "{{base}}/1", "guid": "1"}]), "application/rss+xml")
    svc = service(site)
    wait_for(lambda: "newswatch service started" in svc.text(), what="start")
    stat = os.stat(svc.cfg)
    new = svc.folder / "settings.yaml.new"
    new.write_text(svc.cfg.read_text().replace("digest: immediate", "digest: daily 08:00"))
    os.utime(new, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(new, svc.cfg)
    wait_for(lambda: "settings changed, applied" in svc.text(), timeout=15, what="the renamed file applied")
    svc.stop()


def test_a_failing_source_gets_one_alert_and_one_recovery(service, smtp_server, site):
    site.add("/rss", rss([{"title": "Belarus item", "link": "{{base}}/1", "guid": "1"}]), "application/rss+xml")
    with SiteServer() as b:
        b.add("/rss", "down", "text/plain", status=500)
        svc = service(site, f'  - {{id: flaky, name: Flaky site, kind: feed, url: "{b.base}/rss", obey_robots: false}}')
        wait_for(lambda: len(smtp_server.to("ops@example.org")) == 1, what="operator alert")
        assert "flaky" in smtp_server.to("ops@example.org")[0]["Subject"]
        b.add("/rss", rss([{"title": "Weather", "link": "{{base}}/w", "guid": "w"}]), "application/rss+xml")
        wait_for(lambda: len(smtp_server.to("ops@example.org")) == 2, what="recovery email")
        assert "recovered" in smtp_server.to("ops@example.org")[1]["Subject"]
        runs = svc.crawls("flaky")
        wait_for(lambda: svc.crawls("flaky") >= runs + 3, what="three more crawls")
    svc.stop()
    assert len(smtp_server.to("ops@example.org")) == 2


def test_a_restart_keeps_the_schedule_and_sends_nothing_twice(service, smtp_server, site, tmp_path):
    items = [{"title": "Belarus item one", "link": "{{base}}/1", "guid": "1"}]
    site.add("/rss", rss(items), "application/rss+xml")
    svc = service(site)
    wait_for(lambda: "Belarus item one" in smtp_server.titles("desk@example.org"), what="first digest")
    svc.stop()
    items.append({"title": "Belarus item two", "link": "{{base}}/2", "guid": "2"})   # published while down
    site.add("/rss", rss(items), "application/rss+xml")
    svc.start()
    wait_for(lambda: "Belarus item two" in smtp_server.titles("desk@example.org"), what="item after restart")
    runs = svc.crawls()
    wait_for(lambda: svc.crawls() >= runs + 3, what="three more crawls")
    svc.stop()
    titles = smtp_server.titles("desk@example.org")
    assert titles.count("Belarus item one") == 1 and titles.count("Belarus item two") == 1


def test_once_beside_run_exits_3_and_nothing_is_sent_twice(service, smtp_server, site):
    site.add("/rss", rss([{"title": "Belarus item one", "link": "{{base}}/1", "guid": "1"}]), "application/rss+xml")
    svc = service(site)
    wait_for(lambda: "Belarus item one" in smtp_server.titles("desk@example.org"), what="first digest")
    res = subprocess.run(newswatch_cmd() + ["--config", str(svc.cfg), "once", "--wait", "2"], capture_output=True,
                         text=True, cwd=svc.folder, timeout=60)
    assert res.returncode == 3 and "newswatch run" in res.stderr, res.stderr
    svc.stop()
    assert smtp_server.titles("desk@example.org").count("Belarus item one") == 1


def test_one_second_intervals_do_not_flood_the_log(service, smtp_server, site, tmp_path):
    site.add("/rss", rss([{"title": "Belarus item", "link": "{{base}}/1", "guid": "1"}]), "application/rss+xml",
             delay=1.5)                                 # each crawl outlasts the interval
    svc = service(site)
    svc.cfg.write_text(svc.cfg.read_text().replace("interval: 2s", "interval: 1s"))
    wait_for(lambda: svc.crawls() >= 8, timeout=90, what="eight crawls")
    svc.stop()
    warnings = [line for line in svc.text().splitlines() if " WARNING " in line]
    assert len([w for w in warnings if "skipped" in w]) <= 2, warnings
    assert "maximum number of running instances" not in svc.text()
