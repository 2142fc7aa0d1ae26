"""Digests through the real planning and sending path, with a real SMTP server and a clock
the test drives: cadences, each story once, refusals and retries, the footer, hostile items,
caps, shared renderings."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import lxml.html
import pytest

from newswatch.alerts.digest_send import DigestStatus
from newswatch.alerts.errors import DeliveryError
from newswatch.alerts.transports import SmtpSettings, SmtpTransport
from newswatch.scheduler import cycle
from newswatch.scheduler.config import load_config
from newswatch.scheduler.runtime import Runtime
from newswatch.storage.rows import CrawlRun
from tests.helpers import Mailbox, free_port, record

UTC = timezone.utc
SETTINGS = """
storage: {{url: "sqlite:///d.db"}}
sources:
  - {{id: belta-en, name: BelTA, kind: feed, url: "https://belta-en.example/rss"}}
  - {{id: jamestown-edm, name: Jamestown, kind: feed, url: "https://jamestown.example/rss"}}
  - {{id: minskdialogue-en, name: Minsk Dialogue, kind: feed, url: "https://md.example/rss"}}
  - {{id: mfa-ru, name: MFA, kind: feed, url: "https://mfa.example/rss"}}
  - {{id: old-site, name: Old site, kind: feed, url: "https://old.example/rss", enabled: false}}
terms:
  belarus: [Belarus, "Belarusian*", "Lukashenk*", Minsk]
  iran: [Iran, "Iranian*", Tehran]
  china: [China, Chinese, Beijing]
  sco: [SCO, Shanghai Cooperation Organization]
topics:
  - {{id: belarus-iran, name: Belarus – Iran, all: [belarus, iran]}}
  - {{id: belarus-china, name: Belarus – China, all: [belarus, china]}}
  - {{id: belarus-sco, name: Belarus – SCO, all: [belarus, sco]}}
subscribers:
{subscribers}
email:
  from: "newswatch <nw@example.org>"
  transport: smtp
  smtp: {{host: 127.0.0.1, port: {port}}}
  {email_extra}
"""


class World:
    """The store, the shipped code path (Runtime + cycle.deliver), a local SMTP server, a clock."""

    def __init__(self, tmp_path: Path, smtp: Mailbox, subscribers: str, email_extra: str = ""):
        path = tmp_path / "settings.yaml"
        path.write_text(SETTINGS.format(subscribers=textwrap.indent(textwrap.dedent(subscribers).strip(), "  "),
                                        port=smtp.port, email_extra=email_extra), encoding="utf-8")
        self.rt = Runtime(load_config(path, environ={}))
        self.now = datetime(2026, 1, 5, 5, 30, tzinfo=UTC)      # Monday 08:30 in Minsk
        self.n = 0

    def add(self, title: str, source: str = "belta-en", summary: str = "", published=None, url=None) -> None:
        self.n += 1
        rec = record(source, url or f"https://{source}.example/{self.n}", title, summary=summary,
                     published=published or self.now - timedelta(hours=1))
        self.rt.crawl_repo.upsert_items([dataclasses.replace(rec, first_seen=self.now)])
        cycle.match_new(self.rt)

    def run(self, only=None, backoff=True) -> dict:
        """A pass of the service's digest job at the test's clock."""
        options = cycle.DeliverOptions(only=only, backoff=backoff)
        return {r.subscriber: r for r in cycle.deliver(self.rt, self.now, options)}


def body(msg) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


@pytest.fixture
def world(tmp_path, smtp_server):
    made = []

    def make(subscribers: str, email_extra: str = "") -> World:
        w = World(tmp_path, smtp_server, subscribers, email_extra)
        made.append(w)
        return w

    yield make
    for w in made:
        w.rt.close()


def test_each_subscriber_gets_their_topics_on_their_cadence(world, smtp_server):
    w = world("""
        - {name: iran, email: iran@example.org, topics: [belarus-iran], digest: daily 08:00, timezone: Europe/Minsk}
        - {name: asia, email: asia@example.org, topics: [belarus-china, belarus-sco], digest: weekly MON 09:00, timezone: Asia/Shanghai}
        - {name: now, email: now@example.org, topics: [belarus-sco], digest: immediate}
    """)
    w.add("Lukashenko meets Iranian envoy in Minsk")
    w.add("Belarus and China sign Great Stone deal")
    w.add("Belarus joins SCO")
    first = w.run()
    assert {k: v.status for k, v in first.items()} == {"iran": "sent", "asia": "sent", "now": "sent"}
    assert "Lukashenko meets Iranian envoy" in body(smtp_server.to("iran@example.org")[0])
    assert "Great Stone" not in body(smtp_server.to("iran@example.org")[0])
    asia = body(smtp_server.to("asia@example.org")[0])
    assert "Great Stone" in asia and "Belarus joins SCO" in asia and "Iranian" not in asia

    w.now += timedelta(hours=3)                              # Monday 11:30 Minsk
    w.add("Belarus, Iran discuss Tehran flights")
    w.add("Belarus at SCO ministerial")
    second = w.run()
    assert {k: v.status for k, v in second.items()} == {"iran": "not_due", "asia": "not_due", "now": "sent"}
    w.now = datetime(2026, 1, 6, 5, 0, tzinfo=UTC)           # Tuesday 08:00 Minsk
    third = w.run()
    assert third["iran"].status == "sent" and third["iran"].items == 1 and third["asia"].status == "not_due"
    assert "Tehran flights" in body(smtp_server.to("iran@example.org")[1])
    w.now = datetime(2026, 1, 12, 1, 0, tzinfo=UTC)          # Monday 09:00 Shanghai
    assert w.run()["asia"].status == "sent"
    assert "SCO ministerial" in body(smtp_server.to("asia@example.org")[1])
    assert len(smtp_server.to("now@example.org")) == 2


def test_the_same_story_from_several_sources_appears_once(world, smtp_server):
    w = world("- {name: a, email: a@example.org, topics: [belarus-sco], digest: immediate}")
    w.add("Belarus Becomes First European Country to Join Shanghai Cooperation Organization", "jamestown-edm",
          "On July 4, Belarus became the tenth full member of the SCO at the summit in Astana.",
          published=datetime(2024, 7, 10, tzinfo=UTC))
    w.add("Belarus becomes first European member of Shanghai Cooperation Organization", "minskdialogue-en",
          "At the Astana summit on July 4, Belarus officially became the tenth member state of the SCO.",
          published=datetime(2024, 7, 11, tzinfo=UTC))
    w.add("Lukashenko: SCO membership opens new markets", "belta-en", "Belarus expects new trade routes.")
    w.run()
    (msg,) = smtp_server.to("a@example.org")
    text = body(msg)
    assert text.count("Join Shanghai Cooperation Organization") == 1
    assert "Also reported by: Minsk Dialogue" in text
    assert "SCO membership opens new markets" in text
    assert "2 new items" in msg["Subject"]
    w.now += timedelta(minutes=5)          # all three were delivered: the folded copy is not sent later
    assert w.run()["a"].status == "empty"


@pytest.mark.parametrize("cadence", ["immediate", "daily 08:00", "weekly MON 08:00"])
def test_a_refused_send_is_retried_with_backoff_whatever_the_cadence(world, smtp_server, cadence):
    w = world(f"- {{name: a, email: a@example.org, topics: [belarus-iran], digest: {cadence}, timezone: Europe/Minsk}}")
    smtp_server.refuse = 3
    titles = [f"Belarus and Iran sign agreement number {i}" for i in range(3)]
    for t in titles:
        w.add(t)
    statuses = []
    for _ in range(20):                         # a `once` every minute
        statuses.append(w.run()["a"].status.value)
        w.now += timedelta(minutes=1)
    # 1, 2, 4 … minutes between tries, and the digest goes out long before its next slot
    assert statuses[:8] == ["failed", "failed", "backoff", "failed", "backoff", "backoff", "backoff", "sent"], statuses
    assert smtp_server.refused == 3
    delivered = "".join(body(m) for m in smtp_server.to("a@example.org"))
    for t in titles:
        assert delivered.count(t) == 1, t


def test_the_footer_shows_failing_sources_and_skips_disabled_ones(world, smtp_server):
    w = world("- {name: a, email: a@example.org, topics: [belarus-iran], digest: immediate, timezone: Europe/Minsk}")
    for src in ("belta-en", "jamestown-edm"):
        w.rt.crawl_repo.record_run(CrawlRun(src, w.now, w.now, "ok"))
    down = datetime(2026, 1, 5, 6, 40, tzinfo=UTC)
    for k in range(3):
        t = down + timedelta(minutes=15 * k)
        w.rt.crawl_repo.record_run(CrawlRun("mfa-ru", t, t, "failed", error="HTTP 503"))
    w.now = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    w.add("Belarus and Iran talks")
    w.run()
    text = body(smtp_server.to("a@example.org")[0])
    assert "2 of 3 checked sources answered; failing: MFA since 05 Jan 2026 09:40; 1 not checked yet" in text
    assert "Old site" not in text                            # disabled: neither checked nor healthy
    assert "times in Europe/Minsk" in text and "05 Jan 2026 10:00" in text


def test_a_hostile_item_gives_a_safe_readable_message(world, smtp_server):
    w = world("- {name: a, email: a@example.org, topics: [belarus-iran], digest: immediate}")
    evil = ("Belarus and Iran <script>alert('x')</script>\r\nBcc: victim@example.org\r\n"
            "<img src=x onerror=alert(1)> " + "A" * 10000)
    w.add(evil, summary="<a href='javascript:alert(1)'>Belarus</a> and Iran <b>bold</b>",
          url="https://belta-en.example/evil")
    assert w.run()["a"].status == "sent"
    (entry,) = smtp_server.messages
    msg = entry["msg"]
    assert entry["to"] == ["a@example.org"] and msg["Bcc"] is None
    assert "victim" not in str(msg["Subject"])
    doc = lxml.html.fromstring(msg.get_body(("html",)).get_content())
    assert not doc.xpath("//script | //img | //iframe | //object")
    for el in doc.iter():
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), name
            if name.lower() in ("href", "src"):
                assert value.startswith(("http://", "https://")), value
    assert "<script>alert('x')</script>" in doc.text_content()
    title_line = next(line for line in body(msg).splitlines() if line.startswith("* Belarus and Iran"))
    assert len(title_line) < 400 and title_line.endswith("…")


def test_a_digest_is_capped_per_topic_and_counts_the_rest(world, smtp_server):
    w = world("- {name: a, email: a@example.org, topics: [belarus-iran], digest: immediate, max_per_topic: 5}")
    for i in range(12):
        w.add(f"Belarus and Iran agree on project number {i} of many distinct kinds {i * 7}")
    result = w.run()["a"]
    assert result.status is DigestStatus.SENT and result.items == 12
    text = body(smtp_server.to("a@example.org")[0])
    assert sum(1 for line in text.splitlines() if line.startswith("* ")) == 5
    assert "and 7 more stories in this topic" in text
    w.now += timedelta(minutes=1)
    assert w.run()["a"].status is DigestStatus.EMPTY        # the counted ones are delivered too


def test_equal_digests_share_one_rendering_and_different_ones_do_not(world, smtp_server, monkeypatch):
    from newswatch.alerts import render

    calls = []
    real = render.mime_bodies
    monkeypatch.setattr(render, "mime_bodies", lambda d: calls.append(d) or real(d))
    w = world("""
        - {name: a, email: a@example.org, topics: [belarus-iran], digest: immediate, timezone: Europe/Minsk}
        - {name: b, email: b@example.org, topics: [belarus-iran], digest: immediate, timezone: Europe/Minsk}
        - {name: c, email: c@example.org, topics: [belarus-iran], digest: immediate, timezone: Asia/Tehran}
    """)
    w.add("Belarus and Iran sign a roadmap")
    w.run()
    assert len(calls) == 2                                  # a and b share; c sees other times
    texts = {addr: body(smtp_server.to(addr)[0]) for addr in ("a@example.org", "b@example.org", "c@example.org")}
    assert texts["a@example.org"] == texts["b@example.org"] != texts["c@example.org"]


def test_smtp_authentication_with_password_from_environment():
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    box = Mailbox()
    port = free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port, auth_require_tls=False,
                     authenticator=lambda server, session, envelope, mechanism, data: AuthResult(
                         success=data.login == b"newswatch" and data.password == b"s3cret"))
    ctl.start()
    try:
        from email.message import EmailMessage
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "nw@example.org", "a@example.org", "x"
        msg.set_content("hello")
        settings = SmtpSettings(host="127.0.0.1", port=port, username="newswatch", timeout=3)
        SmtpTransport(settings, password="s3cret").send(msg)
        assert len(box.messages) == 1
        with pytest.raises(DeliveryError, match="SMTP 127.0.0.1"):
            SmtpTransport(settings, password="wrong").send(msg)
    finally:
        ctl.stop()


CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), None)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_preview_renders_in_headless_chromium(world, smtp_server, tmp_path):
    if CHROMIUM is None:
        from tests.conftest import REQUIRE
        (pytest.fail if REQUIRE else pytest.skip)("headless Chromium is not installed (.ci/run installs Debian's chromium)")
    from PIL import Image

    w = world("- {name: analyst, email: a@example.org, topics: [belarus-iran, belarus-china], digest: immediate}")
    w.add("Lukashenko meets Iranian envoy in Minsk", summary="Belarus and Iran discussed trade in Minsk.")
    w.add("Belarus and China sign Great Stone deal", summary="A Belarusian-Chinese roadmap.")
    out = cycle.deliver(w.rt, w.now, cycle.DeliverOptions(preview_dir=tmp_path / "preview"))
    html_path = tmp_path / "preview" / "analyst.html"
    assert out[0].status is DigestStatus.PREVIEW and html_path.exists()
    assert smtp_server.messages == []                        # a preview sends and records nothing
    png = tmp_path / "digest.png"
    subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}", "--hide-scrollbars",
                    "--window-size=800,900", f"--screenshot={png}", html_path.as_uri()],
                   capture_output=True, timeout=90, check=True)
    img = Image.open(png).convert("RGB")
    assert img.size == (800, 900)
    colours = img.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50
    assert img.getpixel((400, 40)) == (11, 61, 102)          # the header band: the page's own CSS applied
