"""``newswatch demo``: the whole cycle offline.

Serves the bundled sample site (recorded copies of BelTA, president.gov.by, Jamestown and
Minsk Dialogue pages) on 127.0.0.1, writes a settings file that points at it and uses the
shipped topics, then crawls, matches and writes the digest to an outbox.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import Optional

from ruamel.yaml import YAML

from scheduler import cycle
from scheduler.config import load_config
from scheduler.sample_site import SiteServer
from spiders.store import Store


def _defaults() -> dict:
    text = resources.files("scheduler").joinpath("defaults.yaml").read_text(encoding="utf-8")
    return YAML(typ="safe").load(text)


def demo_settings(site_root: Path, servers: dict[str, SiteServer], workdir: Path) -> dict:
    defaults = _defaults()
    sources = []
    yaml = YAML(typ="safe")
    for folder in sorted(p for p in site_root.iterdir() if (p / "source.yaml").exists()):
        spec = yaml.load((folder / "source.yaml").read_text(encoding="utf-8"))
        spec["url"] = spec["url"].replace("{{base}}", servers[folder.name].base)
        if spec.get("fallback"):
            spec["fallback"]["url"] = spec["fallback"]["url"].replace("{{base}}", servers[folder.name].base)
        spec["obey_robots"] = False   # the sample site has no robots.txt to ask
        sources.append(spec)
    return {
        "storage": {"url": "sqlite:///demo.db"},
        "crawl": {"user_agent": "newswatch-demo", "delay": "0s", "retries": 0, "timeout": "10s"},
        "sources": sources,
        "terms": defaults["terms"],
        "topics": defaults["topics"],
        "subscribers": [{"name": "demo-analyst", "email": "analyst@example.org",
                         "topics": [t["id"] for t in defaults["topics"]], "digest": "immediate",
                         "timezone": "Europe/Minsk"}],
        "email": {"from": "newswatch demo <newswatch@localhost>", "transport": "outbox", "outbox_dir": "outbox"},
    }


def run_demo(workdir: Optional[str] = None, keep_serving: bool = False) -> int:
    work = Path(workdir or "newswatch-demo").resolve()
    work.mkdir(parents=True, exist_ok=True)
    site_root = Path(str(resources.files("scheduler").joinpath("demo_site")))
    servers: dict[str, SiteServer] = {}
    try:
        for folder in sorted(p for p in site_root.iterdir() if (p / "routes.json").exists()):
            server = SiteServer()
            server.add_folder(folder)
            servers[folder.name] = server.start()
        settings_path = work / "settings.yaml"
        yaml = YAML()
        yaml.default_flow_style = False
        with settings_path.open("w", encoding="utf-8") as fh:
            yaml.dump(demo_settings(site_root, servers, work), fh)
        print(f"sample site: {len(servers)} sources on 127.0.0.1 ({', '.join(servers)})")
        print(f"settings:    {settings_path}")
        cfg = load_config(settings_path)
        preview = work / "preview"
        store = Store(cfg.storage_url)
        try:
            results = cycle.crawl_sources(cfg, cfg.sources, progress=print)
            stats = cycle.match_new(cfg, store)
            print(f"match:       {stats.matched} of {stats.items} new item(s) matched a topic")
            cycle.deliver(cfg, store, preview_dir=str(preview))   # an HTML copy of what is sent next
            sent = cycle.deliver(cfg, store)
        finally:
            store.close()
        for r in sent:
            print("digest:      " + cycle.format_dispatch(r))
        delivered = [r for r in sent if r.status == "sent"]
        if delivered:
            print(f"\nThe digest landed in {delivered[0].where}")
        else:
            print(f"\nNo new digest this time (the items were delivered by an earlier demo run in {work}).")
        print(f"An HTML copy to open in a browser: {preview / 'demo-analyst.html'}")
        if keep_serving:
            print("Serving the sample site; Ctrl-C to stop.")
            for name, s in servers.items():
                print(f"  {name}: {s.base}")
            while True:
                time.sleep(3600)
        failed = [r for r in results if r["status"] == "failed"]
        return 1 if failed else 0
    finally:
        for s in servers.values():
            s.stop()

