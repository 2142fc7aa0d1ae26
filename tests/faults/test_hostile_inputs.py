"""Hostile feeds: 100,000 items, dates in 1970 and the far future, emoji and right-to-left
text, markup and scripts in every field. They are stored as plain text, matched, and shown
safely; nothing crashes and nothing is lost."""

from __future__ import annotations

import json
import time

import lxml.html
import pytest

from tests.conftest import write_settings

pytestmark = pytest.mark.slow

SETTINGS = """
storage: {{url: "sqlite:///nw.db"}}
crawl: {{delay: 0s, retries: 0, timeout: 30s, autothrottle: false, max_response_size: 50000000}}
sources:
  - {{id: hostile, kind: feed, url: "{base}/rss", obey_robots: false, timezone: Europe/Minsk}}
terms:
  belarus: [Belarus, Беларусь]
  iran: [Iran, "إيران"]
topics:
  - {{id: belarus-iran, all: [belarus, iran]}}
subscribers:
  - {{name: desk, email: desk@example.org, topics: [belarus-iran], digest: immediate}}
email: {{transport: outbox, outbox_dir: outbox}}
"""


def feed(items: str) -> str:
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'


def test_feed_of_100000_items(cli, tmp_path, site):
    items = "".join(f"<item><title>Belarus and Iran note {i}</title><link>{{{{base}}}}/n/{i}</link><guid>n{i}</guid></item>"
                    for i in range(100_000))
    site.add("/rss", feed(items), "application/rss+xml")
    cfg = write_settings(tmp_path / "settings.yaml", SETTINGS.format(base=site.base))
    started = time.monotonic()
    res = cli("once", config=cfg, timeout=300)
    took = time.monotonic() - started
    assert res.returncode == 0, res.stdout + res.stderr
    assert "hostile: ok, 500 items (500 new" in res.stdout
    assert "feed has 100000 entries; kept the first 500" in res.stdout
    print(f"\n100,000-item feed: {took:.1f}s for the whole cycle")
    assert took < 120


HOSTILE_ITEMS = """
<item><title>Belarus and Iran: 1970 placeholder</title><link>{{base}}/d/1970</link><guid>d1</guid>
  <pubDate>Thu, 01 Jan 1970 00:00:00 +0000</pubDate></item>
<item><title>Belarus and Iran: from the future</title><link>{{base}}/d/2999</link><guid>d2</guid>
  <pubDate>Tue, 01 Jan 2999 00:00:00 +0000</pubDate></item>
<item><title>Беларусь и إيران 🇧🇾🤝🇮🇷 — סיכום</title><link>{{base}}/rtl</link><guid>r1</guid>
  <description>&#x202E;Belarus&#x202C; מדווח על Iran ‏ 🚀</description></item>
<item><title>&lt;script&gt;alert(1)&lt;/script&gt;Belarus &lt;b onmouseover="x()"&gt;and&lt;/b&gt; Iran</title>
  <link>{{base}}/xss?a=1&amp;b=2</link><guid>x1</guid>
  <description>&lt;iframe src="javascript:alert(2)"&gt;&lt;/iframe&gt;&lt;a href="javascript:alert(3)"&gt;Belarus&lt;/a&gt; Iran
  &lt;img src=x onerror=alert(4)&gt;&lt;style&gt;body{{display:none}}&lt;/style&gt;</description>
  <content:encoded xmlns:content="http://purl.org/rss/1.0/modules/content/"><![CDATA[<script>evil()</script><p>Body: Belarus, Iran</p>]]></content:encoded></item>
"""


def test_dates_emoji_rtl_and_markup(cli, tmp_path, site):
    site.add("/rss", feed(HOSTILE_ITEMS), "application/rss+xml")
    cfg = write_settings(tmp_path / "settings.yaml", SETTINGS.format(base=site.base))
    res = cli("once", config=cfg)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "hostile: ok, 4 items (4 new" in res.stdout
    assert res.stdout.count("implausible date") == 2
    items = {i["url"].rsplit("/", 1)[-1]: i for i in
             (json.loads(l) for l in cli("items", "--json", "--all", config=cfg).stdout.splitlines())}
    for key in ("1970", "2999"):
        assert items[key]["published_guessed"] and items[key]["published"] == items[key]["first_seen"]
    rtl = items["rtl"]
    assert "🇧🇾🤝🇮🇷" in rtl["title"] and rtl["matches"][0]["topic"] == "belarus-iran"
    xss = next(i for k, i in items.items() if k.startswith("xss"))
    assert xss["title"] == "Belarus and Iran"                              # markup and scripts stripped to text
    # the digest shows all four safely
    eml = next((tmp_path / "outbox").glob("*.eml"))
    from email import message_from_bytes, policy
    msg = message_from_bytes(eml.read_bytes(), policy=policy.default)
    html = msg.get_body(("html",)).get_content()
    doc = lxml.html.fromstring(html)
    assert not doc.xpath("//script | //iframe | //img | //object | //embed")
    styles = doc.xpath("//style")
    assert not styles                                                      # no <style> from any item
    for el in doc.iter():
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on")
            if name in ("href", "src"):
                assert value.startswith(("http://", "https://"))
    text = doc.text_content()
    assert "🇧🇾🤝🇮🇷" in text and "from the future" in text and "1970 placeholder" in text
    assert "first seen; no date on the page" in text
