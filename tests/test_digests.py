"""Issue 5: digests and delivery with a real SMTP server (aiosmtpd) and a clock driven by
the test (``now``), never slept on."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import lxml.html
import pytest

from alerts.delivery import EmailSettings, SmtpSettings, SmtpTransport, make_transport
from alerts.digest import Cadence, Subscription
from alerts.dispatch import dispatch
from alerts.matcher import Matcher
from alerts.matching import match_stored
from alerts.rules import Topic, compile_rules
from spiders.items import NewsItem
from spiders.sources import Source
from spiders.store import CrawlRun, Store

UTC = timezone.utc
MINSK = ZoneInfo("Europe/Minsk")

CADENCES = [
    # (cadence, zone, last sent (UTC), now (UTC), due?)
    ("immediate", "UTC", datetime(2026, 1, 5, 8, 0), datetime(2026, 1, 5, 8, 1), True),
    ("hourly", "UTC", datetime(2026, 1, 5, 8, 10), datetime(2026, 1, 5, 8, 59), False),
    ("hourly", "UTC", datetime(2026, 1, 5, 8, 10), datetime(2026, 1, 5, 9, 0), True),
    ("daily 08:00", "Europe/Minsk", datetime(2026, 1, 5, 5, 0), datetime(2026, 1, 6, 4, 59), False),   # 07:59 Minsk
    ("daily 08:00", "Europe/Minsk", datetime(2026, 1, 5, 5, 0), datetime(2026, 1, 6, 5, 0), True),     # 08:00 Minsk
    ("daily 08:00", "Asia/Shanghai", datetime(2026, 1, 5, 0, 0), datetime(2026, 1, 5, 23, 59), False),
    ("daily 08:00", "Asia/Shanghai", datetime(2026, 1, 5, 0, 0), datetime(2026, 1, 6, 0, 0), True),
    ("weekly MON 09:00", "Europe/Minsk", datetime(2026, 1, 5, 6, 0), datetime(2026, 1, 11, 23, 0), False),  # Mon 5 Jan
    ("weekly MON 09:00", "Europe/Minsk", datetime(2026, 1, 5, 6, 0), datetime(2026, 1, 12, 6, 0), True),
    ("weekly FRI 17:30", "UTC", datetime(2026, 1, 2, 17, 30), datetime(2026, 1, 9, 17, 29), False),
    ("daily 08:00", "Europe/Berlin", datetime(2026, 3, 28, 7, 0), datetime(2026, 3, 29, 6, 0), True),   # DST day: 08:00 CEST
    ("daily 08:00", "Europe/Berlin", datetime(2026, 3, 28, 7, 0), datetime(2026, 3, 29, 5, 59), False),
    ("daily 08:00", "UTC", None, datetime(2026, 1, 5, 3, 0), True),   # never sent: the first digest goes out
]


@pytest.mark.parametrize("cadence,zone,last,now,due", CADENCES, ids=[f"{c[0]}|{c[1]}|{c[3]}" for c in CADENCES])
def test_cadence(cadence, zone, last, now, due):
    last = last.replace(tzinfo=UTC) if last else None
    assert Cadence.parse(cadence).is_due(last, now.replace(tzinfo=UTC), ZoneInfo(zone)) is due


@pytest.mark.parametrize("text", ["daily 25:00", "weekly XYZ 09:00", "every day", "daily 8"])
def test_bad_cadence(text):
    with pytest.raises(ValueError):
        Cadence.parse(text)


TERMS = {"belarus": ["Belarus", "Belarusian*", "Lukashenk*", "Minsk"], "iran": ["Iran", "Iranian*", "Tehran"],
         "china": ["China", "Chinese", "Beijing"], "sco": ["SCO", "Shanghai Cooperation Organization"]}
TOPICS = {t.id: t for t in [Topic(id="belarus-iran", name="Belarus – Iran", all=["belarus", "iran"]),
                            Topic(id="belarus-china", name="Belarus – China", all=["belarus", "china"]),
                            Topic(id="belarus-sco", name="Belarus – SCO", all=["belarus", "sco"])]}
SOURCES = [Source(id=i, name=n, kind="feed", url=f"https://{i}.example/rss") for i, n in
           [("belta-en", "BelTA"), ("jamestown-edm", "Jamestown"), ("minskdialogue-en", "Minsk Dialogue"), ("mfa-ru", "MFA")]]


class World:
    """A store, the rules, an SMTP transport to the local server, and a clock."""

    def __init__(self, tmp_path, smtp_server, subscribers):
        self.store = Store(f"sqlite:///{tmp_path}/d.db")
        self.matcher = Matcher(compile_rules(TERMS, list(TOPICS.values())))
        self.email = EmailSettings(**{"from": "newswatch <nw@example.org>", "transport": "smtp",
                                      "smtp": {"host": smtp_server.host, "port": smtp_server.port}})
        self.transport = make_transport(self.email)
        self.subs = subscribers
        self.now = datetime(2026, 1, 5, 5, 30, tzinfo=UTC)      # Monday 08:30 in Minsk
        self.n = 0

    def add(self, title, source="belta-en", summary="", published=None):
        self.n += 1
        item = NewsItem(source_id=source, url=f"https://{source}.example/{self.n}", title=title, summary=summary,
                        published=published or self.now - timedelta(hours=1), first_seen=self.now)
        self.store.upsert_item(item)
        match_stored(self.store, self.matcher)

    def run(self, backoff=False):
        return {r.subscriber: r for r in dispatch(self.store, self.subs, TOPICS, SOURCES, self.email, self.transport,
                                                  now=self.now, backoff=backoff)}


def body(msg) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_each_subscriber_gets_their_topics_on_their_cadence(tmp_path, smtp_server):
    subs = [Subscription(name="iran", email="iran@example.org", topics=["belarus-iran"], digest="daily 08:00", timezone="Europe/Minsk"),
            Subscription(name="asia", email="asia@example.org", topics=["belarus-china", "belarus-sco"],
                         digest="weekly MON 09:00", timezone="Asia/Shanghai"),
            Subscription(name="now", email="now@example.org", topics=["belarus-sco"], digest="immediate")]
    w = World(tmp_path, smtp_server, subs)
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
    fourth = w.run()
    assert fourth["asia"].status == "sent"
    assert "SCO ministerial" in body(smtp_server.to("asia@example.org")[1])
    assert len(smtp_server.to("now@example.org")) == 2


def test_same_story_from_several_sources_appears_once(tmp_path, smtp_server):
    subs = [Subscription(name="a", email="a@example.org", topics=["belarus-sco"], digest="immediate")]
    w = World(tmp_path, smtp_server, subs)
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
    assert "first European member of Shanghai" not in text.split("Also reported by")[0].split("Join Shanghai")[1]
    assert "SCO membership opens new markets" in text
    assert "2 new items" in msg["Subject"]
    # all three are recorded as delivered: the folded copy is not sent again later
    w.now += timedelta(minutes=5)
    assert w.run()["a"].status == "empty"


def test_smtp_refusing_then_accepting_delivers_everything_once(tmp_path, smtp_server):
    subs = [Subscription(name="a", email="a@example.org", topics=["belarus-iran"], digest="immediate")]
    w = World(tmp_path, smtp_server, subs)
    smtp_server.refuse = 3
    titles = [f"Belarus and Iran sign agreement number {i}" for i in range(5)]
    statuses = []
    for i, title in enumerate(titles):
        w.add(title)
        statuses.append(w.run(backoff=True)["a"].status)
        w.now += timedelta(seconds=30)
    for _ in range(10):                               # later runs, the clock moving on
        w.now += timedelta(minutes=5)
        statuses.append(w.run(backoff=True)["a"].status)
    assert statuses[:2] == ["failed", "backoff"] and "sent" in statuses
    assert smtp_server.refused == 3
    delivered = "".join(body(m) for m in smtp_server.to("a@example.org"))
    for title in titles:
        assert delivered.count(title) == 1, title
    assert statuses[-1] == "empty"


def test_source_state_in_the_footer(tmp_path, smtp_server):
    subs = [Subscription(name="a", email="a@example.org", topics=["belarus-iran"], digest="immediate", timezone="Europe/Minsk")]
    w = World(tmp_path, smtp_server, subs)
    for src in ("belta-en", "jamestown-edm", "minskdialogue-en"):
        w.store.record_crawl(CrawlRun(src, w.now, w.now, "ok"))
    down = datetime(2026, 1, 5, 6, 40, tzinfo=UTC)
    for k in range(3):
        t = down + timedelta(minutes=15 * k)
        w.store.record_crawl(CrawlRun("mfa-ru", t, t, "failed", error="HTTP 503"))
    w.now = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    w.add("Belarus and Iran talks")
    w.run()
    text = body(smtp_server.to("a@example.org")[0])
    assert "3 of 4 sources checked; failing: MFA since 05 Jan 2026 09:40" in text
    assert "times in Europe/Minsk" in text and "05 Jan 2026 10:00" in text   # 08:00 UTC published-1h → 10:00 Minsk


def test_hostile_item_gives_a_safe_readable_message(tmp_path, smtp_server):
    subs = [Subscription(name="a", email="a@example.org", topics=["belarus-iran"], digest="immediate")]
    w = World(tmp_path, smtp_server, subs)
    evil = ("Belarus and Iran <script>alert('x')</script>\r\nBcc: victim@example.org\r\n"
            "<img src=x onerror=alert(1)> " + "A" * 10000)
    item = NewsItem(source_id="belta-en", url="javascript:alert(document.cookie)", title=evil,
                    summary="<a href='javascript:alert(1)'>Belarus</a> and Iran <b>bold</b>", first_seen=w.now)
    w.store.upsert_item(item)
    match_stored(w.store, w.matcher)
    assert w.run()["a"].status == "sent"
    (entry,) = smtp_server.messages
    msg = entry["msg"]
    assert entry["to"] == ["a@example.org"]                      # no injected Bcc
    assert "victim" not in str(msg["Subject"]) and msg["Bcc"] is None
    html = msg.get_body(("html",)).get_content()
    doc = lxml.html.fromstring(html)
    assert not doc.xpath("//script | //img | //iframe | //object")      # the markup arrived as text
    for el in doc.iter():
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), name
            if name.lower() in ("href", "src"):
                assert value.startswith(("http://", "https://")), value   # no javascript: links
    assert "<script>alert('x')</script>" in doc.text_content()         # shown, escaped, readable
    text = body(msg)
    title_line = next(l for l in text.splitlines() if l.startswith("* Belarus and Iran"))
    assert len(title_line) < 400 and title_line.endswith("…")   # bounded, still readable


def test_smtp_authentication_with_password_from_environment(tmp_path):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from tests.conftest import Mailbox, free_port

    box = Mailbox()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"newswatch" and auth_data.password == b"s3cret"
        return AuthResult(success=ok)

    port = free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False)
    ctl.start()
    try:
        from email.message import EmailMessage
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "nw@example.org", "a@example.org", "x"
        msg.set_content("hello")
        settings = SmtpSettings(host="127.0.0.1", port=port, username="newswatch", timeout=3)
        SmtpTransport(settings, password="s3cret").send(msg)
        assert len(box.messages) == 1
        from alerts.errors import DeliveryError
        with pytest.raises(DeliveryError, match="SMTP 127.0.0.1"):
            SmtpTransport(settings, password="wrong").send(msg)
    finally:
        ctl.stop()


CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (.ci/run installs it)")
def test_preview_renders_in_headless_chromium(tmp_path, smtp_server, cli):
    from PIL import Image

    subs = [Subscription(name="analyst", email="a@example.org", topics=list(TOPICS), digest="immediate")]
    w = World(tmp_path, smtp_server, subs)
    w.add("Lukashenko meets Iranian envoy in Minsk", summary="Belarus and Iran discussed trade in Minsk.")
    w.add("Belarus and China sign Great Stone deal", summary="A Belarusian-Chinese roadmap.")
    results = dispatch(w.store, subs, TOPICS, SOURCES, w.email, None, now=w.now, preview_dir=str(tmp_path / "preview"))
    html_path = tmp_path / "preview" / "analyst.html"
    assert results[0].status == "preview" and html_path.exists()
    assert smtp_server.messages == []                        # a preview sends and records nothing
    png = tmp_path / "digest.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'chromium'}", "--hide-scrollbars", "--window-size=800,900",
                    f"--screenshot={png}", html_path.as_uri()], capture_output=True, timeout=90, check=True)
    img = Image.open(png).convert("RGB")
    assert img.size == (800, 900)
    colours = img.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50              # text and highlights, not a blank page
    # the header band is the digest's dark blue: the page's own CSS was applied
    assert img.getpixel((400, 40)) == (11, 61, 102)
