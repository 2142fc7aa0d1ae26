"""``newswatch demo``: the whole cycle offline.

Serves the bundled sample site (recorded copies of BelTA, president.gov.by, Jamestown and
Minsk Dialogue pages) on 127.0.0.1, writes a settings file that points at it and uses the
shipped topics, then crawls, matches and writes the digest to an outbox. A second run keeps
the operator's edits to the demo settings (only the sample site's addresses are refreshed),
and the HTML copy always shows the latest digest that went out.
"""

from __future__ import annotations

import email
import json
import shutil
from email import policy
from importlib import resources
from pathlib import Path
from typing import Any, Optional

from ruamel.yaml import YAML

from newswatch.alerts.digest_send import DigestStatus
from newswatch.scheduler import cycle
from newswatch.scheduler.config import Config, load_config
from newswatch.scheduler.runtime import Runtime
from newswatch.scheduler.sample_site import SiteServer

SUBSCRIBER = "demo-analyst"


def _package_file(name: str) -> Path:
    return Path(str(resources.files("newswatch.scheduler").joinpath(name)))


def _defaults() -> dict[str, Any]:
    return YAML(typ="safe").load(_package_file("defaults.yaml").read_text(encoding="utf-8"))


def demo_settings(site_root: Path, servers: dict[str, SiteServer]) -> dict[str, Any]:
    defaults = _defaults()
    yaml = YAML(typ="safe")
    sources = []
    for folder in sorted(p for p in site_root.iterdir() if (p / "source.yaml").exists()):
        spec = yaml.load((folder / "source.yaml").read_text(encoding="utf-8"))
        sources.append(_localise(spec, servers[folder.name].base))
    return {
        "storage": {"url": "sqlite:///demo.db"},
        "crawl": {"user_agent": "newswatch-demo", "delay": "0s", "retries": 0, "timeout": "10s"},
        "sources": sources,
        "terms": defaults["terms"],
        "topics": defaults["topics"],
        "subscribers": [{"name": SUBSCRIBER, "email": "analyst@example.org",
                         "topics": [t["id"] for t in defaults["topics"]], "digest": "immediate",
                         "timezone": "Europe/Minsk"}],
        "email": {"from": "newswatch demo <newswatch@localhost>", "transport": "outbox", "outbox_dir": "outbox"},
    }


def _localise(spec: dict[str, Any], base: str) -> dict[str, Any]:
    spec = json.loads(json.dumps(spec).replace("{{base}}", base))
    spec["obey_robots"] = False   # the sample site has no robots.txt to ask
    return spec


def _refresh_addresses(path: Path, servers: dict[str, SiteServer]) -> None:
    """Keep the operator's edits; point the sample sources at this run's local ports."""
    yaml = YAML()
    data = yaml.load(path.read_text(encoding="utf-8"))
    for src in data.get("sources") or []:
        server = servers.get(src.get("id"))
        if server is None:
            continue
        for holder in (src, src.get("fallback") or {}):
            url = holder.get("url")
            if isinstance(url, str) and url.startswith("http://127.0.0.1:"):
                holder["url"] = server.base + "/" + url.split("/", 3)[3] if url.count("/") >= 3 else server.base
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(data, fh)


def _latest_eml(outbox: Path) -> Optional[Path]:
    found = sorted(outbox.glob("*.eml"))
    return found[-1] if found else None


def _html_of(eml: Path) -> str:
    msg = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    part = msg.get_body(("html",))
    return part.get_content() if part is not None else ""


def run_demo(workdir: Optional[str] = None, keep_serving: bool = False, reset: bool = False) -> int:
    work = Path(workdir or "newswatch-demo").resolve()
    if reset and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    site_root = _package_file("demo_site")
    servers: dict[str, SiteServer] = {}
    try:
        for folder in sorted(p for p in site_root.iterdir() if (p / "routes.json").exists()):
            server = SiteServer()
            server.add_folder(folder)
            servers[folder.name] = server.start()
        settings_path = work / "settings.yaml"
        if settings_path.exists():
            _refresh_addresses(settings_path, servers)
            print(f"settings:    {settings_path} (kept; --reset writes them anew)")
        else:
            yaml = YAML()
            yaml.default_flow_style = False
            with settings_path.open("w", encoding="utf-8") as fh:
                yaml.dump(demo_settings(site_root, servers), fh)
            print(f"settings:    {settings_path}")
        print(f"sample site: {len(servers)} sources on 127.0.0.1 ({', '.join(servers)})")
        cfg = load_config(settings_path)
        with Runtime(cfg) as rt:
            report = cycle.once(rt, progress=print)
        print(f"match:       {report.stats.matched} of {report.stats.items} new item(s) matched a topic")
        for r in report.digests:
            print("digest:      " + r.describe())
        sent = [r for r in report.digests if r.status is DigestStatus.SENT]
        outbox = Path(cfg.settings.email.outbox_dir)
        latest = _latest_eml(outbox)
        preview = work / "preview" / f"{SUBSCRIBER}.html"
        if latest is not None:
            preview.parent.mkdir(parents=True, exist_ok=True)
            preview.write_text(_html_of(latest), encoding="utf-8")
        if sent:
            print(f"\nThe digest landed in {sent[0].where}")
        elif latest is not None:
            print(f"\nNothing new since the last demo run; the latest digest is {latest}")
        if latest is not None:
            print(f"An HTML copy to open in a browser: {preview}")
        if keep_serving:
            print("Serving the sample site; Ctrl-C to stop.")
            for name, s in servers.items():
                print(f"  {name}: {s.base}")
            _serve_workbench(settings_path, cfg)
        return 1 if report.all_sources_failed else 0
    finally:
        for s in servers.values():
            s.stop()


def _serve_workbench(settings_path: Path, cfg: Config) -> None:
    """The workbench on the demo's store, with a secret and an operators' password made for
    this run (unless the environment gives them)."""
    import os
    import secrets
    import socket

    from newswatch.scheduler.commands.web import serve
    from newswatch.scheduler.web.app import build_app

    web = cfg.settings.web
    environ = dict(os.environ)
    environ.setdefault(web.secret_env, secrets.token_urlsafe(32))
    password = environ.setdefault(web.password_env, secrets.token_urlsafe(9))
    port = web.port
    with socket.socket() as probe:
        if probe.connect_ex((web.host, port)) == 0:          # taken: any free port
            with socket.socket() as free:
                free.bind((web.host, 0))
                port = free.getsockname()[1]
    app = build_app(settings_path, environ)
    print(f"\nThe workbench: http://{web.host}:{port}/  operators' password: {password}")
    serve(app, web.host, port)
