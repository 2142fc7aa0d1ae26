"""Issue 6, "Done when": ``newswatch run`` as a real process against sources on a local
server and a local SMTP server; live settings changes (add a source, break the file, fix
it); SIGTERM and restart with no duplicate and no lost item; operator alerts."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from scheduler.sample_site import SiteServer
from tests.conftest import newswatch_cmd, rss

pytestmark = pytest.mark.slow

SETTINGS = """
storage: {{url: "sqlite:///state/nw.db"}}
crawl: {{delay: 0s, retries: 0, timeout: 5s, interval: 2s, autothrottle: false}}
sources:
  - {{id: belta, name: BelTA, kind: feed, url: "{a}/rss", obey_robots: false}}
  - {{id: flaky, name: Flaky site, kind: feed, url: "{b}/rss", obey_robots: false}}
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


def wait_for(condition, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def crawl_runs(folder: Path) -> int:
    import sqlite3

    with sqlite3.connect(folder / "state" / "nw.db", timeout=10) as conn:
        return conn.execute("select count(*) from crawl_runs where source_id = 'belta'").fetchone()[0]


def delivered_titles(box) -> list[str]:
    out = []
    for m in box.to("desk@example.org"):
        text = m.get_body(("plain",)).get_content()
        out += [line[2:].strip() for line in text.splitlines() if line.startswith("* ")]
    return out


def start(cfg: Path, log: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("NEWSWATCH_CONFIG", None)
    return subprocess.Popen(newswatch_cmd() + ["--config", str(cfg), "--log-level", "INFO", "run"],
                            stdout=subprocess.DEVNULL, stderr=log.open("ab"), env=env, cwd=cfg.parent)


def test_service_end_to_end(tmp_path, smtp_server):
    items_a = [{"title": "Belarus item one", "link": "{{base}}/1", "guid": "1"}]
    with SiteServer() as a, SiteServer() as b, SiteServer() as c:
        a.add("/rss", rss(items_a), "application/rss+xml")
        b.add("/rss", "down", "text/plain", status=500)
        c.add("/rss", rss([{"title": "Minsk item from the new source", "link": "{{base}}/c1", "guid": "c1"}]),
              "application/rss+xml")
        cfg = tmp_path / "settings.yaml"
        good = lambda extra="": SETTINGS.format(a=a.base, b=b.base, port=smtp_server.port, extra=extra)  # noqa: E731
        cfg.write_text(good())
        log = tmp_path / "service.log"
        proc = start(cfg, log)
        try:
            wait_for(lambda: "Belarus item one" in delivered_titles(smtp_server), what="first immediate digest")

            # a new item reaches the analyst within the polling interval
            items_a.append({"title": "Belarus item two", "link": "{{base}}/2", "guid": "2"})
            a.add("/rss", rss(items_a), "application/rss+xml")
            wait_for(lambda: "Belarus item two" in delivered_titles(smtp_server), what="second item")

            # the failing source produces exactly one operator email
            wait_for(lambda: len(smtp_server.to("ops@example.org")) == 1, what="operator alert")
            assert "flaky" in smtp_server.to("ops@example.org")[0]["Subject"]

            # live settings: add a source
            cfg.write_text(good(f'  - {{id: newsrc, kind: feed, url: "{c.base}/rss", obey_robots: false}}'))
            wait_for(lambda: "Minsk item from the new source" in delivered_titles(smtp_server), what="new source")

            # a broken edit is refused and the service goes on with the last good settings
            cfg.write_text(good().replace("topics: [belarus]", "topics: [belarus-typo]"))
            wait_for(lambda: "settings change refused" in log.read_text(), what="refusal logged")
            assert "unknown topic 'belarus-typo'" in log.read_text()
            items_a.append({"title": "Belarus item three", "link": "{{base}}/3", "guid": "3"})
            a.add("/rss", rss(items_a), "application/rss+xml")
            wait_for(lambda: "Belarus item three" in delivered_titles(smtp_server), what="item under last good settings")

            # fixed again; the flaky source recovers: one recovery email
            cfg.write_text(good())
            b.add("/rss", rss([{"title": "Weather", "link": "{{base}}/w", "guid": "w"}]), "application/rss+xml")
            wait_for(lambda: len(smtp_server.to("ops@example.org")) == 2, what="recovery email")
            assert "recovered" in smtp_server.to("ops@example.org")[1]["Subject"]

            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
            assert "finishing running jobs" in log.read_text()

            # while it is down, a story is published; after the restart it arrives, once
            items_a.append({"title": "Belarus item four", "link": "{{base}}/4", "guid": "4"})
            a.add("/rss", rss(items_a), "application/rss+xml")
            proc = start(cfg, log)
            wait_for(lambda: "Belarus item four" in delivered_titles(smtp_server), what="item after restart")
            # a few more polling rounds of the source (not a sleep): nothing may be sent twice
            runs = crawl_runs(tmp_path)
            wait_for(lambda: crawl_runs(tmp_path) >= runs + 3, what="three more crawls")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    titles = delivered_titles(smtp_server)
    for t in ("Belarus item one", "Belarus item two", "Belarus item three", "Belarus item four",
              "Minsk item from the new source"):
        assert titles.count(t) == 1, (t, titles)
    assert len(smtp_server.to("ops@example.org")) == 2
