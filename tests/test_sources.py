"""Issue 4: every shipped source crawls its recorded fixtures from a local server with all
fields right (Russian, Belarusian and English dates, windows-1251 and KOI8-R pages)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from ruamel.yaml import YAML

from scheduler.config import load_config
from scheduler.sample_site import SiteServer
from spiders.runner import run_crawl
from spiders.sources import CrawlSettings, Source
from spiders.store import Store
from tests.conftest import DATA, ROOT

FOLDERS = sorted(p.name for p in DATA.iterdir() if (p / "source.yaml").exists() and (p / "expected.json").exists())
CRAWL = CrawlSettings(delay="0s", retries=0, timeout="10s", autothrottle=False)


def source_for(folder: str, base: str) -> Source:
    spec = YAML(typ="safe").load((DATA / folder / "source.yaml").read_text("utf-8"))
    text = json.dumps(spec).replace("{{base}}", base)
    return Source.model_validate(json.loads(text))


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """Crawl every fixture source once, each on its own local server, in one crawl."""
    db = tmp_path_factory.mktemp("sources") / "items.db"
    servers = {}
    try:
        for name in FOLDERS:
            s = SiteServer()
            s.add_folder(DATA / name)
            servers[name] = s.start()
        sources = [source_for(n, servers[n].base) for n in FOLDERS]
        results = {r["source_id"]: r for r in run_crawl(sources, CRAWL, f"sqlite:///{db}")}
        store = Store(f"sqlite:///{db}")
        items = {}
        for it in store.iter_items():
            items.setdefault(it.source_id, []).append(it)
        store.close()
        yield {"results": results, "items": items, "bases": {n: s.base for n, s in servers.items()}}
    finally:
        for s in servers.values():
            s.stop()


def test_every_shipped_source_has_fixtures():
    cfg = load_config(ROOT / "settings.yaml", environ={})
    missing = [s.id for s in cfg.settings.sources if s.id not in FOLDERS]
    assert not missing, f"shipped sources without tests/data/<id>/ fixtures: {missing}"


def test_shipped_selectors_match_the_fixtures():
    """The selectors in settings.yaml are the ones the fixtures are crawled with."""
    cfg = load_config(ROOT / "settings.yaml", environ={})
    for s in cfg.settings.sources:
        fixture = source_for(s.id, "http://x")
        assert s.kind == fixture.kind, s.id
        assert s.listing == fixture.listing, s.id
        assert s.article == fixture.article, s.id
        assert (s.fallback.listing if s.fallback else None) == (fixture.fallback.listing if fixture.fallback else None), s.id


@pytest.mark.parametrize("folder", FOLDERS)
def test_source_fields(crawled, folder):
    expected = json.loads((DATA / folder / "expected.json").read_text("utf-8"))
    base = crawled["bases"][folder]
    result = crawled["results"][folder]
    got = {it.url: it for it in crawled["items"].get(folder, [])}
    if expected.get("expect_failure"):
        assert result["status"] == "failed", result
        return
    assert result["status"] == "ok", result
    want = expected["items"]
    assert len(got) == len(want), f"{folder}: got {sorted(got)}"
    for w in want:
        url = w["url"].replace("{{base}}", base)
        assert url in got, f"{folder}: {url} not among {sorted(got)}"
        it = got[url]
        assert it.title == w["title"], folder
        assert it.language == w["language"]
        if w.get("published"):
            assert it.published == datetime.fromisoformat(w["published"]), f"{folder}: {it.title}"
            assert not it.published_guessed
        else:
            assert it.published_guessed
        if w.get("guid"):
            assert it.guid == w["guid"].replace("{{base}}", base)
        if w.get("summary_contains"):
            assert w["summary_contains"] in it.summary + " " + it.body, f"{folder}: {it.title}"
        if w.get("body_contains"):
            assert w["body_contains"] in it.body, f"{folder}: {it.title}"
