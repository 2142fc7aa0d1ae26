"""Network faults and hostile responses, against the real CLI and a hostile local server.
Each fault is reported against its source with a message a person can act on, the rest of
the run goes on, no local file is ever read, and every item that reached the store reaches
the subscriber once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from newswatch.scheduler.sample_site import SiteServer
from tests.conftest import newswatch_cmd, write_settings
from tests.faults.hostile import Hostile
from tests.helpers import rss

pytestmark = pytest.mark.slow

SETTINGS = """
storage: {{url: "sqlite:///nw.db"}}
crawl: {{delay: 0s, retries: 1, timeout: 3s, autothrottle: false, max_redirects: 3, time_limit: 90s,
        max_response_size: 20000000}}
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


def src(sid: str, url: str, kind: str = "feed", **extra) -> str:
    more = "".join(f", {k}: {json.dumps(v)}" for k, v in extra.items())
    return f"  - {{id: {sid}, kind: {kind}, url: '{url}', obey_robots: false{more}}}"


def lines_by_source(out: str) -> dict[str, str]:
    found = {}
    current = None
    for line in out.splitlines():
        if line.startswith("["):
            current = line.split("] ", 1)[1].split(":", 1)[0]
            found[current] = line
        elif current and line.startswith(" "):
            found[current] += "\n" + line
    return found


def test_a_hostile_network_does_not_stop_the_run(tmp_path, site, smtp_server, run_cli):
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
            src("deep", f"{h.base}/deep", kind="listing", listing={"item": "div.item"}),
        ])
        cfg = write_settings(tmp_path / "settings.yaml", SETTINGS.format(sources=sources, port=smtp_server.port))
        code, out, err = run_cli("once", config=cfg)
    line = lines_by_source(out)
    assert "ok, 1 items" in line["good"]
    assert "FAILED" in line["hang"] and "crawl.timeout" in line["hang"]
    assert "FAILED" in line["loop"] and "redirect" in line["loop"].lower()
    assert "FAILED" in line["huge"] and "larger than crawl.max_response_size" in line["huge"]
    assert "DownloadCancelledError: DownloadCancelledError" not in out
    assert "FAILED" in line["junk"] and "not a readable feed" in line["junk"]
    assert "ok, 1 items" in line["throttled"]                 # 429 + Retry-After, then 200
    assert "FAILED" in line["closed"] and "connection refused" in line["closed"].lower()
    assert "FAILED" in line["selfsigned"] and ("SSL" in line["selfsigned"] or "certificate" in line["selfsigned"].lower())
    assert "ok, 2 items" in line["bomb"]                       # entities left unexpanded
    assert "ok, 1 items" in line["xxe"]
    assert "FAILED" in line["deep"] and "nested" in line["deep"] and "layout changed" not in line["deep"]
    assert "Traceback" not in err
    (msg,) = smtp_server.to("desk@example.org")
    text = msg.get_body(("plain",)).get_content()
    for title in ("Belarus and Iran sign a roadmap", "Belarus and Iran after throttling", "Belarus and Iran plain"):
        assert text.count(title) == 1, title
    assert "root:x:0:0" not in text and "/bin/bash" not in text and "lollollol" not in text
    assert "failing:" in text and "hang" in text


def test_a_next_link_to_a_local_file_is_refused(tmp_path, smtp_server, run_cli):
    with Hostile() as h:
        cfg = write_settings(tmp_path / "settings.yaml", SETTINGS.format(port=smtp_server.port, sources=src(
            "files", f"{h.base}/next-file", kind="listing",
            listing={"item": "div.item", "next": "a.next::attr(href)", "max_pages": 3})))
        code, out, _ = run_cli("once", config=cfg)
    assert "files: ok, 2 items" in out
    assert "refused file:///etc/passwd" in out and "only http and https" in out
    text = "".join(m["msg"].get_body(("plain",)).get_content() for m in smtp_server.messages)
    assert "root:" not in text and "2 new items" in text


def test_a_redirect_to_another_local_service_is_refused(tmp_path, smtp_server, run_cli):
    with Hostile() as h, SiteServer() as secret:
        secret.add("/admin", "root:x:0:0 secrets", "text/plain")
        cfg = write_settings(tmp_path / "settings.yaml", SETTINGS.format(port=smtp_server.port, sources=src(
            "sneaky", f"{h.base}/redirect?to={secret.base}/admin")))
        code, out, _ = run_cli("crawl", config=cfg)
        assert secret.requests == []
    assert "sneaky: FAILED" in out and "not a configured source" in out and "redirected from" in out


def test_a_redirect_to_another_configured_host_is_followed_and_logged(tmp_path, smtp_server, cli):
    with Hostile() as h, SiteServer() as other:
        other.add("/feed", rss([{"title": "Belarus and Iran moved feed", "link": "{{base}}/m/1", "guid": "m1"}]),
                  "application/rss+xml")
        moved = other.base.replace("127.0.0.1", "localhost")
        cfg = write_settings(tmp_path / "settings.yaml", SETTINGS.format(port=smtp_server.port, sources="\n".join([
            src("moved", f"{h.base}/redirect?to={moved}/feed"), src("other", f"{moved}/feed")])))
        res = cli("crawl", config=cfg)
    assert "moved: ok, 1 items" in res.stdout, res.stdout + res.stderr
    assert "source moved: redirected from host 127.0.0.1 to host localhost" in res.stderr


def test_a_500mb_response_and_a_bomb_keep_memory_bounded(tmp_path):
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
