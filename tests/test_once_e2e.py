"""Issue 2, "Done when": a v1 settings file with feeds on 127.0.0.1 and SMTP on 127.0.0.1;
``newswatch once`` sends each subscriber one message with exactly their matching items,
and a second ``once`` sends nothing new."""

from __future__ import annotations

from tests.conftest import rss, write_settings

BELTA_ITEMS = [
    {"title": "Lukashenko meets Iranian Foreign Minister in Minsk", "link": "{{base}}/politics/view/iran-1-2025/?utm_source=rss",
     "guid": "b1", "summary": "MINSK (BelTA) – Belarus and Iran discussed trade."},
    {"title": "Belarus, China sign roadmap for Great Stone park", "link": "{{base}}/economics/view/china-2-2025/",
     "guid": "b2", "summary": "Belarusian and Chinese officials signed a roadmap."},
    {"title": "Minsk hosts ice hockey tournament", "link": "{{base}}/sport/view/hockey-3-2025/",
     "guid": "b3", "summary": "Teams from six countries."},
]
PEER_ITEMS = [
    {"title": "Iran and China sign 25-year cooperation plan", "link": "{{base}}/news/84276005/Iran-China",
     "guid": "i1", "summary": "Tehran and Beijing signed a strategic framework."},
    {"title": "Belarus joins SCO as tenth member", "link": "{{base}}/news/84276006/Belarus-SCO",
     "guid": "i2", "summary": "At the Astana summit Belarus became a member of the Shanghai Cooperation Organisation."},
]

SETTINGS = """
storage:
  url: sqlite:///state/newswatch.db
crawl:
  delay: 0s
  retries: 0
  timeout: 10s
sources:
  - id: belta-en
    name: BelTA
    kind: feed
    url: {belta}/rss
    language: en
    timezone: Europe/Minsk
    obey_robots: false
  - id: irna-en
    name: IRNA
    kind: feed
    url: {irna}/rss
    language: en
    timezone: Asia/Tehran
    obey_robots: false
terms:
  belarus: [Belarus, "Belarus*", "Lukashenk*", Minsk]
  iran: [Iran, "Iran*", Tehran]
  china: [China, Chinese, Beijing]
  sco: [SCO, Shanghai Cooperation Organisation]
topics:
  - id: belarus-iran
    all: [belarus, iran]
  - id: belarus-china
    all: [belarus, china]
  - id: belarus-sco
    all: [belarus, sco]
subscribers:
  - name: iran-desk
    email: iran@example.org
    topics: [belarus-iran]
    digest: immediate
    timezone: Europe/Minsk
  - name: asia-desk
    email: asia@example.org
    topics: [belarus-china, belarus-sco]
    digest: immediate
    timezone: Asia/Shanghai
email:
  from: "newswatch <newswatch@example.org>"
  transport: smtp
  smtp: {{host: {smtp_host}, port: {smtp_port}, starttls: false}}
"""


def _titles(msg) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_once_delivers_each_subscriber_their_items_once(tmp_path, site, smtp_server, cli):
    from scheduler.sample_site import SiteServer

    site.add("/rss", rss(BELTA_ITEMS), "application/rss+xml")
    with SiteServer() as peer:
        peer.add("/rss", rss(PEER_ITEMS), "application/rss+xml")
        cfg = write_settings(tmp_path / "settings.yaml", SETTINGS.format(
            belta=site.base, irna=peer.base, smtp_host=smtp_server.host, smtp_port=smtp_server.port))

        first = cli("once", config=cfg)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "belta-en: ok, 3 items (3 new" in first.stdout

        iran = smtp_server.to("iran@example.org")
        asia = smtp_server.to("asia@example.org")
        assert len(iran) == 1 and len(asia) == 1
        iran_text, asia_text = _titles(iran[0]), _titles(asia[0])
        assert "Lukashenko meets Iranian Foreign Minister in Minsk" in iran_text
        # canonical link: tracking parameters dropped
        assert f"{site.base}/politics/view/iran-1-2025/\n" in iran_text
        for other in ("Great Stone", "ice hockey", "25-year", "tenth member"):
            assert other not in iran_text
        assert "Belarus, China sign roadmap for Great Stone park" in asia_text
        assert "Belarus joins SCO as tenth member" in asia_text
        assert f"{peer.base}/news/84276006/Belarus-SCO" in asia_text
        for other in ("Iranian Foreign Minister", "ice hockey", "25-year"):
            assert other not in asia_text
        # the HTML part carries the same items as links
        html = asia[0].get_body(("html",)).get_content()
        assert f'href="{site.base}/economics/view/china-2-2025/"' in html

        second = cli("once", config=cfg)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "not modified" in second.stdout          # conditional requests: 304
        assert len(smtp_server.messages) == 2            # nothing new was sent
        assert "nothing new" in second.stdout


def test_smtp_down_keeps_items_for_next_run(tmp_path, site, smtp_server, cli):
    site.add("/rss", rss(BELTA_ITEMS), "application/rss+xml")
    cfg = write_settings(tmp_path / "settings.yaml", SETTINGS.format(
        belta=site.base, irna="http://127.0.0.1:9", smtp_host=smtp_server.host, smtp_port=smtp_server.port))
    smtp_server.refuse = 1
    first = cli("once", config=cfg)
    assert first.returncode == 1
    assert "NOT SENT" in first.stdout and "451" in first.stdout
    assert "irna-en: FAILED" in first.stdout         # a dead source is reported, the run goes on
    second = cli("digest", config=cfg)
    assert second.returncode == 0, second.stdout + second.stderr
    iran = smtp_server.to("iran@example.org")
    assert len(iran) == 1
    assert "Lukashenko meets Iranian Foreign Minister" in _titles(iran[0])
    third = cli("digest", config=cfg)
    assert len(smtp_server.to("iran@example.org")) == 1, third.stdout
