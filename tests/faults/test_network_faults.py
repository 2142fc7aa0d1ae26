"""Network faults and hostile responses, against the real CLI and a hostile local server.
Each fault is reported against its source, the rest of the run goes on, and every item
that reached the store reaches the subscriber once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import newswatch_cmd, rss, write_settings
from tests.faults.hostile import Hostile

pytestmark = pytest.mark.slow

SETTINGS = """
storage: {{url: "sqlite:///nw.db"}}
crawl: {{delay: 0s, retries: 1, timeout: 3s, autothrottle: false, max_redirects: 3, time_limit: 90s}}
sources:
{sources}
terms:
  belarus: [Belarus]
  iran: [Iran]
topics:
  - {{id: belarus-iran, all: [belarus, iran]}}
subscribers:
  - {{name: desk, email: desk@example.org, topics: [belarus-iran], digest: immediate}}
email:
  from: "newswatch <nw@example.org>"
  transport: smtp
  smtp: {{host: 127.0.0.1, port: {port}}}
"""


def src(sid: str, url: str, **extra) -> str:
    more = "".join(f", {k}: {json.dumps(v)}" for k, v in extra.items())
    return f"  - {{id: {sid}, kind: feed, url: '{url}', obey_robots: false{more}}}"


def test_hostile_network_does_not_stop_the_run(tmp_path, site, smtp_server, cli):
    site.add("/rss", rss([{"title": "Belarus and Iran sign a roadmap", "link": "{{base}}/ok/1", "guid": "ok1"}]),
             "application/rss+xml")
    with Hostile(huge_bytes=60 * 1024 * 1024) as h, Hostile(tls=True) as tls:
        sources = "\n".join([
            src("good", f"{site.base}/rss"),
            src("hang", f"{h.base}/hang"),
            src("loop", f"{h.base}/loop/a"),
            src("huge", f"{h.base}/huge"),
            src("junk", f"{h.base}/junk"),
            src("throttled", f"{h.base}/throttle"),
            src("closed", "http://127.0.0.1:9/rss"),
            src("selfsigned", f"{tls.base}/throttle"),
            src("bomb", f"{h.base}/bomb"),
            src("xxe", f"{h.base}/xxe"),
        ])
        cfg = write_settings(tmp_path / "settings.yaml", SETTINGS.format(sources=sources, port=smtp_server.port))
        res = cli("once", config=cfg, timeout=180)
    out = res.stdout
    line = {l.split("] ", 1)[1].split(":", 1)[0]: l for l in out.splitlines() if l.startswith("[")}
    assert "ok, 1 items" in line["good"]
    assert "FAILED" in line["hang"] and "TimeoutError" in line["hang"]
    assert "FAILED" in line["loop"] and "redirect" in line["loop"].lower()
    assert "FAILED" in line["huge"] and ("maxsize" in line["huge"].lower() or "size" in line["huge"].lower())
    assert "FAILED" in line["junk"] and "not a readable feed" in line["junk"]
    assert "ok, 1 items" in line["throttled"]                 # 429 + Retry-After, then 200
    assert "FAILED" in line["closed"] and "Connection" in line["closed"]
    assert "FAILED" in line["selfsigned"] and ("SSL" in line["selfsigned"] or "certificate" in line["selfsigned"].lower())
    assert "ok, 2 items" in line["bomb"]                       # entities left unexpanded
    assert "ok, 1 items" in line["xxe"]
    # the digest holds what reached the store, once, and no local file leaked into it
    (msg,) = smtp_server.to("desk@example.org")
    text = msg.get_body(("plain",)).get_content()
    for title in ("Belarus and Iran sign a roadmap", "Belarus and Iran after throttling", "Belarus and Iran plain"):
        assert text.count(title) == 1, title
    assert "root:x:0:0" not in text and "/bin/bash" not in text and "lollollol" not in text
    items = [json.loads(l) for l in cli("items", "--json", "--all", config=cfg).stdout.splitlines()]
    assert not any("root:" in i["title"] for i in items)
    # the failing sources are in the footer, so silence is not read as no news
    assert "failing:" in text and "hang" in text


def test_500mb_response_and_bomb_keep_memory_bounded(tmp_path):
    """The 500 MB body is cut off at crawl.max_response_size and the entity bomb is never
    expanded; the peak memory of the crawl (measured) stays low."""
    with Hostile() as h:
        cfg = write_settings(tmp_path / "settings.yaml", SETTINGS.format(
            sources=src("huge", f"{h.base}/huge") + "\n" + src("bomb", f"{h.base}/bomb"), port=9).replace(
            "transport: smtp", "transport: outbox"))
        probe = textwrap.dedent(f"""
            import resource, subprocess, sys
            r = subprocess.run({newswatch_cmd()!r} + ["--config", {str(cfg)!r}, "crawl"], capture_output=True, text=True)
            print(r.stdout)
            print("MAXRSS_MB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
        """)
        res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=180)
        sent = h.huge_sent
    assert "huge: FAILED" in res.stdout, res.stdout + res.stderr
    assert "bomb: ok, 2 items" in res.stdout, res.stdout
    peak = float(res.stdout.split("MAXRSS_MB")[1])
    print(f"\npeak RSS of the crawl under a 500 MB response and an entity bomb: {peak:.0f} MB; "
          f"server sent {sent / 1e6:.0f} MB before the cut")
    assert peak < 300
    assert sent < 200 * 1024 * 1024
