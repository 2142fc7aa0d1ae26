"""The rules commands through the real entry point: match, items --json, test-rule, rematch."""

from __future__ import annotations

import json

from tests.conftest import ROOT, rss, write_settings

SHIPPED = ROOT / "settings.yaml"


def test_match_lines_json(cli):
    lines = "\n".join([
        "Lukashenka arrives in Tehran for talks",
        "Лукашенко провел переговоры с президентом Ирана",
        "Беларусь і Іран падпісалі дарожную карту",
        "Belarus and Chile sign a trade deal",
        "",
        json.dumps({"title": "Analyst: Minsk has become prime venue for debate",
                    "body": "He noted Belarus' path to full membership in the SCO."}),
    ])
    res = cli("match", "--json", "--lines", "-", config=SHIPPED, input=lines)
    assert res.returncode == 0, res.stderr
    out = [json.loads(l) for l in res.stdout.splitlines()]
    assert len(out) == 6
    assert [o["topics"] for o in out] == [["belarus-iran"], ["belarus-iran"], ["belarus-iran"], [], [], ["belarus-sco"]]
    hit = out[1]["hits"][0]
    assert set(hit) >= {"topic", "term", "field", "start", "end", "text"}
    assert "Лукашенко провел переговоры с президентом Ирана"[hit["start"]:hit["end"]] == hit["text"]


def test_match_text_explains(cli):
    res = cli("match", "--text", "Xi Jinping met Lukashenko in Beijing to discuss the Great Stone park", config=SHIPPED)
    assert res.returncode == 0
    assert "belarus-china" in res.stdout and "[Lukashenko]" in res.stdout and "[Beijing]" in res.stdout
    res = cli("match", "--text", "Weather in Paris", config=SHIPPED)
    assert "no topic matched" in res.stdout


def test_match_file(cli, tmp_path):
    f = tmp_path / "article.txt"
    f.write_text("У Мінску адбыліся перамовы з дэлегацыяй Кітая аб сумесных праектах.", encoding="utf-8")
    res = cli("match", "--json", str(f), config=SHIPPED)
    assert json.loads(res.stdout)["topics"] == ["belarus-china"]


OLD = """
storage: {url: "sqlite:///nw.db"}
crawl: {delay: 0s, retries: 0}
sources:
  - {id: feed, kind: feed, url: "BASE/rss", obey_robots: false, timezone: Europe/Minsk}
terms:
  belarus: [Belarus, Minsk]
  iran: [Iran, Tehran]
topics:
  - {id: belarus-iran, all: [belarus, iran]}
"""


def test_test_rule_and_rematch(cli, tmp_path, site):
    site.add("/rss", rss([
        {"title": "Belarus and Iran sign roadmap", "link": "{{base}}/a", "guid": "a"},
        {"title": "Minsk delegation arrives in Tehran", "link": "{{base}}/b", "guid": "b"},
        {"title": "Lukashenko receives Iranian envoy", "link": "{{base}}/c", "guid": "c"},
    ]), "application/rss+xml")
    cfg = write_settings(tmp_path / "settings.yaml", OLD.replace("BASE", site.base))
    assert cli("crawl", config=cfg).returncode == 0
    res = cli("test-rule", "belarus-iran", config=cfg)
    assert "2 of 3 stored item(s)" in res.stdout
    new = write_settings(tmp_path / "new.yaml", OLD.replace("BASE", site.base).replace(
        "belarus: [Belarus, Minsk]", "belarus: [Belarus, Lukashenk*]").replace("iran: [Iran, Tehran]", "iran: [Iran, Iranian*]"))
    res = cli("test-rule", "belarus-iran", "--settings", str(new), config=cfg)
    assert "1 gained, 1 lost" in res.stdout, res.stdout
    assert "+ Lukashenko receives Iranian envoy" in res.stdout
    assert "- Minsk delegation arrives in Tehran" in res.stdout
    # items --json shows the evidence; rematch applies the new rules to stored items
    items = [json.loads(l) for l in cli("items", "--json", config=cfg).stdout.splitlines()]
    assert {i["title"] for i in items} == {"Belarus and Iran sign roadmap", "Minsk delegation arrives in Tehran"}
    assert items[0]["matches"][0]["hits"] and items[0]["matches"][0]["rules_version"]
    (tmp_path / "settings.yaml").write_text(new.read_text())
    res = cli("rematch", config=cfg)
    assert "re-matched 3 item(s)" in res.stdout and ": 2 match a topic" in res.stdout
    items = [json.loads(l) for l in cli("items", "--json", config=cfg).stdout.splitlines()]
    assert {i["title"] for i in items} == {"Belarus and Iran sign roadmap", "Lukashenko receives Iranian envoy"}
