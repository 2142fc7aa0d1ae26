"""Every shipped source against its fixture (issue 14): tests/data/sites/<id>/ holds pages
rebuilt from public evidence of how the site is made (PROVENANCE.md says which parts are
evidence and which are assumed), the source's settings (source.yaml, as shipped in
settings.yaml but pointed at {{base}}) and what a crawl must store (expected.json): titles,
dates taken from the article, bodies without tag lists, share blocks or page chrome.
routes_fallback.json + expected_fallback.json make the primary way in fail so the fallback
runs; a redesigned page must make the source fail with an explanation.

Each fixture is served on 127.0.0.1 and crawled by the real `newswatch crawl`."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from newswatch.scheduler.sample_site import SiteServer
from newswatch.storage.alerts_repo import AlertsRepository
from newswatch.storage.engine import Database
from tests.conftest import DATA, ROOT

SITES = DATA / "sites"
_YAML = YAML(typ="safe", pure=True)


def _load(text: str):
    return _YAML.load(text)


def _dump(data) -> str:
    import io

    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, out)
    return out.getvalue()


def runs() -> list[tuple[str, str, str]]:
    out = []
    for folder in sorted(p for p in SITES.iterdir() if p.is_dir()):
        out.append((folder.name, "routes.json", "expected.json"))
        if (folder / "routes_fallback.json").exists():
            out.append((folder.name, "routes_fallback.json", "expected_fallback.json"))
    return out


RUNS = runs()


def _source(folder: Path, base: str, recorded_at: datetime | None) -> dict:
    spec = _load((folder / "source.yaml").read_text("utf-8").replace("{{base}}", base))
    spec["obey_robots"] = False
    # Sitemap ages are measured from now: widen them by the time since the fixture was
    # recorded, so exactly what was young then is young now.
    if recorded_at is not None:
        since = datetime.now(timezone.utc) - recorded_at
        for part in (spec, spec.get("fallback") or {}):
            rules = part.get("sitemap")
            if rules and rules.get("max_age"):
                days = _days(rules["max_age"]) + since.days + 1
                rules["max_age"] = f"{days}d"
    return spec


def _days(text: str) -> int:
    m = re.fullmatch(r"(\d+)\s*([dhw])", str(text).strip())
    assert m, text
    n, unit = int(m.group(1)), m.group(2)
    return {"d": n, "w": 7 * n, "h": max(1, n // 24)}[unit]


def _run_id(name: str, routes: str) -> str:
    return name if routes == "routes.json" else f"{name}-fallback"


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory):
    """Every fixture on its own local server, all crawled by one `newswatch crawl`."""
    from newswatch.scheduler.cli import main

    tmp = tmp_path_factory.mktemp("sources")
    servers, sources = [], []
    for name, routes, expected_file in RUNS:
        folder = SITES / name
        expected = json.loads((folder / expected_file).read_text("utf-8"))
        server = SiteServer()
        server.add_folder(folder, routes=routes)
        servers.append(server.start())
        recorded = expected.get("recorded_at")
        spec = _source(folder, server.base, datetime.fromisoformat(recorded) if recorded else None)
        spec["id"] = _run_id(name, routes)
        sources.append(spec)
    cfg = tmp / "settings.yaml"
    cfg.write_text(_dump({
        "storage": {"url": "sqlite:///nw.db"},
        "crawl": {"delay": "0s", "retries": 0, "timeout": "10s", "autothrottle": False},
        "sources": sources,
        "terms": {"x": ["Belarus"]},
        "topics": [{"id": "x", "all": ["x"]}],
        "subscribers": [],
    }), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(tmp)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--config", str(cfg), "crawl", "--verbose"])
    finally:
        os.chdir(here)
        for server in servers:
            server.stop()
    db = Database(f"sqlite:///{tmp / 'nw.db'}")
    items = list(AlertsRepository(db).iter_items())
    db.close()
    return code, out.getvalue() + err.getvalue(), items


def _report_of(report: str, source_id: str) -> str:
    """The crawl report's lines about one source: its line and the indented ones after."""
    lines: list[str] = []
    keep = False
    for line in report.splitlines():
        if line and not line.startswith(" "):
            keep = re.match(rf"^(\[\d+/\d+\]\s+)?{re.escape(source_id)}:", line) is not None
        if keep:
            lines.append(line)
    return "\n".join(lines)


def test_every_fixture_states_its_provenance():
    for folder in (p for p in SITES.iterdir() if p.is_dir()):
        text = (folder / "PROVENANCE.md").read_text("utf-8")
        assert "[C]" in text or "fictional" in text.lower(), folder.name
        assert "[A]" in text or "fictional" in text.lower(), folder.name
        source = (folder / "source.yaml").read_text("utf-8")
        assert "[C]" in source or "[A]" in source, f"{folder.name}/source.yaml says nothing of its evidence"


@pytest.mark.parametrize("name,routes,expected_file", RUNS, ids=[f"{n}:{r.split('.')[0]}" for n, r, _ in RUNS])
def test_source_fixture(crawled, name, routes, expected_file):
    code, report, all_items = crawled
    sid = _run_id(name, routes)
    folder = SITES / name
    expected = json.loads((folder / expected_file).read_text("utf-8"))
    items = [i for i in all_items if i.source_id == sid]
    base_re = re.compile(r"^https?://127\.0\.0\.1:\d+")
    stored = {base_re.sub("{{base}}", i.url): i for i in items}
    mine = _report_of(report, sid)
    assert mine, f"the crawl report says nothing of {sid}:\n{report}"
    if expected.get("expect_failure"):
        assert not items, mine
        # the failure names the selector that found nothing and what the page has now
        assert "li.news-card" in mine and "article.event-tile" in mine, mine
        return
    for want in expected["items"]:
        url = want["url"]
        assert url in stored, f"{name}: {url} not stored; stored: {sorted(stored)}\n{mine}"
        got = stored[url]
        assert got.title == want["title"], (url, got.title)
        if want.get("published"):
            assert got.published is not None, (url, "no date")
            assert got.published == datetime.fromisoformat(want["published"]), (url, got.published)
        if want.get("language"):
            assert got.language == want["language"]
        text = " ".join([got.summary, got.body])
        for phrase in ([want["body_contains"]] if isinstance(want.get("body_contains"), str)
                       else want.get("body_contains") or []):
            assert phrase in text, (url, phrase, text[:500])
        for phrase in want.get("body_not_contains") or []:
            assert phrase not in text, (url, phrase)
    for unwanted in expected.get("not_items") or []:
        assert unwanted not in stored and not any(i.title == unwanted for i in items), (name, unwanted)


def test_shipped_settings_match_the_fixtures():
    """The sources in settings.yaml are the fixtures' source.yaml with the real address."""
    shipped = {s["id"]: s for s in _load((ROOT / "settings.yaml").read_text("utf-8"))["sources"]}
    for folder in (p for p in SITES.iterdir() if p.is_dir() and p.name != "president-ru-redesigned"):
        fixture = _load((folder / "source.yaml").read_text("utf-8"))
        sid = fixture["id"]
        assert sid in shipped, f"{sid} is not in settings.yaml"
        for key in ("kind", "link_pattern", "listing", "article", "json", "sitemap", "follow", "include", "exclude"):
            if key in fixture:
                assert _norm(shipped[sid].get(key)) == _norm(fixture[key]), (sid, key)
        assert not str(shipped[sid]["url"]).startswith("{{base}}")


def _norm(value):
    """Addresses without their origin (the fixture's {{base}} is the site's host)."""
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"^(\{\{base\}\}|https?://[^/]+)", "", value)
    return value
