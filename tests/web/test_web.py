"""The workbench over real HTTP (uvicorn on 127.0.0.1) on a store filled by a real `once`:
signed feedback links taken from a delivered .eml, CSRF on every form, operators' pages
behind the sign-in, escaping of what came from a site, search, export, and verdicts that
reach `newswatch eval`. The same flows in headless Chromium are in test_browser.py."""

from __future__ import annotations

import email
import http.cookiejar
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from email import policy
from pathlib import Path

import pytest

from newswatch.alerts.feedback import LinkClaim, sign
from tests.helpers import rss

SECRET = "test-secret-0123456789abcdef"
PASSWORD = "operators-password-1"

SETTINGS = """
storage: {{url: "sqlite:///state/nw.db"}}
crawl: {{delay: 0s, retries: 0, timeout: 5s}}
sources:
  - {{id: wire, name: Wire, kind: feed, url: "{base}/rss", obey_robots: false}}
terms:
  belarus: [Belarus, Minsk]     # comment kept through saves
  iran: [Iran, Tehran]
topics:
  - id: belarus-iran
    all: [belarus, iran]
subscribers:
  - {{name: desk, email: desk@example.org, topics: [belarus-iran], digest: immediate}}
email:
  from: "newswatch <nw@example.org>"
  transport: outbox
  outbox_dir: outbox
web:
  base_url: "http://127.0.0.1:{port}"
"""

ITEMS = [
    {"title": "Belarus and Iran sign a trade roadmap", "link": "{{base}}/a1", "guid": "a1",
     "summary": "Minsk and Tehran agreed on a roadmap."},
    {"title": "Minsk hosts a chess festival", "link": "{{base}}/a2", "guid": "a2", "summary": "Players from Belarus."},
    # markup as text: a page that did not escape it would run it
    {"title": "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt; Belarus and Iran talk", "link": "{{base}}/a3",
     "guid": "a3", "summary": "<![CDATA[<p>&lt;img src=x onerror=alert(2)&gt; Minsk and Tehran met.</p>]]>"},
]


class Browser:
    """urllib with a cookie jar: a visitor with a session."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                  NoRedirect())

    def get(self, path: str) -> tuple[int, str, dict]:
        return self._open(urllib.request.Request(self.base + path if path.startswith("/") else path))

    def post(self, path: str, data: dict, headers: dict | None = None) -> tuple[int, str, dict]:
        body = urllib.parse.urlencode(data).encode()
        return self._open(urllib.request.Request(self.base + path, data=body, headers=headers or {}))

    def _open(self, req: urllib.request.Request) -> tuple[int, str, dict]:
        try:
            with self.opener.open(req, timeout=30) as r:
                return r.status, r.read().decode(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), dict(e.headers)

    @staticmethod
    def csrf(html: str) -> str:
        return re.search(r'name="csrf" value="([^"]+)"', html).group(1)

    def sign_in(self) -> None:
        _, page, _ = self.get("/login")
        status, _, headers = self.post("/login", {"csrf": self.csrf(page), "password": PASSWORD})
        assert status == 303, "sign-in failed"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture(scope="module")
def workbench(tmp_path_factory):
    import uvicorn

    from newswatch.scheduler.cli import main
    from newswatch.scheduler.sample_site import SiteServer
    from newswatch.scheduler.web.app import build_app

    folder = tmp_path_factory.mktemp("web")
    # the workbench's socket is bound now and kept: the digests' links must name its port
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    env = {"NEWSWATCH_WEB_SECRET": SECRET, "NEWSWATCH_WEB_PASSWORD": PASSWORD}
    with SiteServer() as site:
        site.add("/rss", rss(ITEMS), "application/rss+xml")
        cfg = folder / "settings.yaml"
        cfg.write_text(SETTINGS.format(base=site.base, port=port))
        mp = pytest.MonkeyPatch()
        for k, v in env.items():
            mp.setenv(k, v)
        mp.chdir(folder)
        assert main(["--config", str(cfg), "once"]) == 0
        app = build_app(cfg, environ=env)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "the workbench did not start"
        yield {"base": f"http://127.0.0.1:{port}", "folder": folder, "cfg": cfg, "site": site}
        server.should_exit = True
        thread.join(10)
        mp.undo()


def delivered_links(folder: Path) -> dict[str, list[str]]:
    (eml,) = sorted((folder / "outbox").glob("*.eml"))
    msg = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    html = msg.get_body(("html",)).get_content()
    return {k: re.findall(rf'class="{k}" href="([^"]+)"', html) for k in ("fb-relevant", "fb-not-relevant", "fb-missed")}


def test_operator_pages_need_the_sign_in_and_a_wrong_password_is_refused(workbench):
    b = Browser(workbench["base"])
    for path in ("/rules", "/sources", "/archive", "/item/1", "/export.csv"):
        status, _, headers = b.get(path)
        assert status == 303 and headers["location"].startswith("/login"), path
    _, page, _ = b.get("/login")
    status, body, _ = b.post("/login", {"csrf": b.csrf(page), "password": "wrong"})
    assert status == 403 and "That is not the operators" in body
    b.sign_in()
    assert b.get("/rules")[0] == 200 and b.get("/sources")[0] == 200


def test_a_form_without_its_csrf_token_is_refused(workbench):
    b = Browser(workbench["base"])
    assert b.post("/login", {"password": PASSWORD})[0] == 403          # no token
    b.sign_in()
    _, page, _ = b.get("/rules?topic=belarus-iran")
    before = workbench["cfg"].read_text()
    draft = "topics:\n  - id: belarus-iran\n    all: [belarus]\n"
    for token in (None, "not-the-token"):
        data = {"topic": "belarus-iran", "draft": draft, "action": "save", "digest": "x"}
        if token:
            data["csrf"] = token
        status, body, _ = b.post("/rules", data)
        assert status == 403 and "security token" in body
    assert workbench["cfg"].read_text() == before
    other = Browser(workbench["base"])                                 # another visitor's token is not mine
    _, page2, _ = other.get("/login")
    status, _, _ = b.post("/rules/preview", {"csrf": other.csrf(page2), "topic": "belarus-iran", "draft": draft})
    assert status == 403


def test_repeated_wrong_passwords_lock_the_address_out_for_a_while():
    from newswatch.scheduler.web.auth import Throttle

    now = [1000.0]
    t = Throttle(attempts=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert not t.blocked("10.0.0.1")
        t.failed("10.0.0.1")
    assert t.blocked("10.0.0.1") and not t.blocked("10.0.0.2")
    now[0] += 61                                        # a minute on: the address may try again
    assert not t.blocked("10.0.0.1")


def test_pages_escape_what_came_from_a_site(workbench):
    b = Browser(workbench["base"])
    b.sign_in()
    status, page, headers = b.get("/archive?q=talk")
    assert status == 200
    assert "alert(1)" in page and "<script>alert" not in page
    assert "<img src=x" not in page
    item = re.search(r'href="/item/(\d+)">[^<]*alert\(1\)', page).group(1)
    _, page, _ = b.get(f"/item/{item}")
    assert "alert(2)" in page and "<script>alert" not in page and "<img src=x" not in page
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("query", ['"', "Belarus AND (", "NEAR(Iran", "-Minsk", "*", "' OR 1=1 --", "Ирана*", "^x:y"])
def test_any_query_gives_a_page_never_an_error(workbench, query):
    b = Browser(workbench["base"])
    b.sign_in()
    status, page, _ = b.get("/archive?" + urllib.parse.urlencode({"q": query}))
    assert status == 200 and 'id="count"' in page


def test_search_filters_and_export(workbench):
    b = Browser(workbench["base"])
    b.sign_in()
    _, page, _ = b.get("/archive?q=roadmap")
    assert "Belarus and Iran sign a trade roadmap" in page and "chess festival" not in page
    _, page, _ = b.get("/archive?topic=belarus-iran")
    assert "trade roadmap" in page and "chess festival" not in page
    status, body, headers = b.get("/export.csv?q=chess")
    assert status == 200 and headers["content-type"].startswith("text/csv")
    assert body.splitlines()[0].startswith("id,published") and len(body.splitlines()) == 2 and "chess" in body
    status, body, _ = b.get("/export.json")
    rows = json.loads(body)
    assert len(rows) == 3 and {"title", "url", "topics", "relevant"} <= set(rows[0])


def test_a_verdict_link_from_a_delivered_mail_records_once_and_reaches_eval(workbench, tmp_path):
    links = delivered_links(workbench["folder"])
    assert links["fb-relevant"] and links["fb-missed"]
    good = links["fb-relevant"][0]
    assert good.startswith(workbench["base"] + "/f/")
    b = Browser(workbench["base"])                  # an analyst, not signed in
    status, page, _ = b.get(good)
    assert status == 200 and "Record this verdict" in page
    path = urllib.parse.urlsplit(good).path
    assert b.post(path, {})[0] == 403                              # no CSRF token: refused
    status, page, _ = b.post(path, {"csrf": b.csrf(page)})
    assert status == 200 and "Recorded" in page
    _, page, _ = b.get(good)
    status, page, _ = b.post(path, {"csrf": b.csrf(page)})
    assert "already recorded" in page
    # the verdict shows in the archive …
    op = Browser(workbench["base"])
    op.sign_in()
    _, page, _ = op.get("/archive?q=roadmap")
    assert "✓ 1" in page
    # … in the workbench's precision and recall (the only labelled case here) …
    _, page, _ = op.get("/rules?topic=belarus-iran")
    status, body, _ = op.post("/rules/preview", {"csrf": op.csrf(page), "topic": "belarus-iran",
                                                 "draft": "topics:\n  - id: belarus-iran\n    all: [belarus, iran]\n"},
                              headers={"Accept": "application/json"})
    got = json.loads(body)
    assert got["cases"] == 1 and got["scores_live"]["tp"] == 1 and got["scores_draft"]["tp"] == 1
    # … and is a case for `newswatch eval`
    import subprocess

    from tests.conftest import newswatch_cmd

    r = subprocess.run(newswatch_cmd() + ["--config", str(workbench["cfg"]), "eval", "--summary"],
                       capture_output=True, text=True, cwd=workbench["folder"], timeout=120)
    assert r.returncode == 0, r.stderr
    assert "with 1 verdict" in r.stderr and "belarus-iran" in r.stdout


def test_forged_altered_and_expired_links_are_refused(workbench):
    links = delivered_links(workbench["folder"])
    good = links["fb-relevant"][0]
    token = good.rsplit("/", 1)[1]
    payload, mac = token.split(".")
    altered = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + mac
    forged = sign("another-secret", LinkClaim(s="desk", v="relevant", e=int(time.time()) + 3600, i=1, t="belarus-iran"))
    expired = sign(SECRET, LinkClaim(s="desk", v="relevant", e=int(time.time()) - 60, i=1, t="belarus-iran"))
    b = Browser(workbench["base"])
    for bad, words in ((altered, "cannot be used"), (forged, "altered or was not made"), (expired, "expired"),
                       ("nonsense", "not a newswatch link")):
        status, page, _ = b.get(f"/f/{bad}")
        assert status == 403 and words in page, bad
        assert b.post(f"/f/{bad}", {"csrf": "x"})[0] == 403
    # a missed-story link is not a verdict link, and the other way round
    missed_token = links["fb-missed"][0].rsplit("/", 1)[1]
    assert b.get(f"/f/{missed_token}")[0] == 403
    assert b.get(f"/missed/{token}")[0] == 403


def test_a_missed_story_is_recorded_for_its_topic(workbench):
    links = delivered_links(workbench["folder"])
    b = Browser(workbench["base"])
    path = urllib.parse.urlsplit(links["fb-missed"][0]).path
    _, page, _ = b.get(path)
    status, page, _ = b.post(path, {"csrf": b.csrf(page), "url": "javascript:alert(1)", "topic": "belarus-iran"})
    assert status == 400 and "http" in page
    site = workbench["site"].base
    status, page, _ = b.post(path, {"csrf": b.csrf(page), "url": f"{site}/a2", "topic": "belarus-iran"})
    assert status == 200 and "It is in the archive" in page


def test_the_rules_preview_answers_with_the_backtest(workbench):
    b = Browser(workbench["base"])
    b.sign_in()
    _, page, _ = b.get("/rules?topic=belarus-iran")
    csrf = b.csrf(page)
    draft = "topics:\n  - id: belarus-iran\n    all: [belarus]\n"
    status, body, _ = b.post("/rules/preview", {"csrf": csrf, "topic": "belarus-iran", "draft": draft},
                             headers={"Accept": "application/json"})
    got = json.loads(body)
    assert status == 200 and got["ok"]
    assert got["n_gained"] == 1 and got["gained"][0]["title"] == "Minsk hosts a chess festival"
    status, body, _ = b.post("/rules/preview", {"csrf": csrf, "topic": "belarus-iran",
                                                "draft": "topics:\n  - id: belarus-iran\n    all: [belarus, nolist]\n"},
                             headers={"Accept": "application/json"})
    got = json.loads(body)
    assert not got["ok"] and "unknown term list 'nolist'" in got["problems"][0]


@pytest.mark.parametrize("wanted, lands", [("/archive", "/archive"), ("//evil.example/x", "/rules"),
                                           ("/\\evil.example", "/rules"), ("https://evil.example/", "/rules")])
def test_after_the_sign_in_only_a_page_of_this_site_is_next(workbench, wanted, lands):
    b = Browser(workbench["base"])
    _, page, _ = b.get("/login?" + urllib.parse.urlencode({"next": wanted}))
    if wanted == "/archive":            # (one wrong password here: five a minute lock the address out)
        status, page, _ = b.post("/login", {"csrf": b.csrf(page), "password": "wrong", "next": wanted})
        assert status == 403                                   # a wrong password keeps where you were going
    status, _, headers = b.post("/login", {"csrf": b.csrf(page), "password": PASSWORD,
                                           "next": re.search(r'name="next" value="([^"]*)"', page).group(1)
                                           .replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&")})
    assert status == 303 and headers["location"] == lands


def test_probe_reaches_only_what_the_crawl_may(workbench):
    from newswatch.scheduler.sample_site import SiteServer

    b = Browser(workbench["base"])
    b.sign_in()
    with SiteServer() as private:                  # a local service that is not a source
        private.add("/secret", "<html><head><title>db password: hunter2</title></head></html>", "text/html")
        for url in (f"{private.base}/secret", "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd",
                    f"{workbench['base']}/login"):
            _, page, _ = b.get("/sources")
            status, page, _ = b.post("/sources/probe", {"csrf": b.csrf(page), "url": url})
            assert status == 200 and 'id="probe-error"' in page and "hunter2" not in page, url
    _, page, _ = b.get("/sources")
    status, page, _ = b.post("/sources/probe", {"csrf": b.csrf(page), "url": workbench["site"].base + "/rss"})
    assert 'id="probe-result"' in page and "looks like a feed" in page


def test_odd_addresses_get_a_page_not_an_error(workbench):
    b = Browser(workbench["base"])
    b.sign_in()
    assert b.get("/archive?to=9999-12-31&from=0001-01-01")[0] == 200
    assert b.get("/item/99999999999999999999")[0] == 404
    assert b.get("/item/424242")[0] == 404


def test_csv_cells_that_look_like_formulas_are_defused():
    from newswatch.scheduler.web.app import _cell

    assert [_cell(v) for v in ('=HYPERLINK("x")', "+1", "-2", "@a", "plain", 5)] == \
        ["'=HYPERLINK(\"x\")", "'+1", "'-2", "'@a", "plain", 5]


@pytest.mark.slow
def test_demo_serve_serves_the_workbench_on_the_demo_data(tmp_path):
    import os
    import subprocess

    from tests.conftest import newswatch_cmd

    env = {**os.environ, "NEWSWATCH_WEB_PASSWORD": PASSWORD}
    env.pop("NEWSWATCH_CONFIG", None)
    proc = subprocess.Popen(newswatch_cmd() + ["demo", "--workdir", str(tmp_path / "demo"), "--serve"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        address = None
        while time.monotonic() < deadline and address is None:
            line = proc.stdout.readline()
            if not line:
                break
            found = re.search(r"The workbench: (http://127\.0\.0\.1:\d+)/", line)
            address = found.group(1) if found else None
        assert address, "demo --serve did not say where the workbench is"
        b = Browser(address)
        for _ in range(100):
            try:
                b.get("/login")
                break
            except OSError:
                time.sleep(0.1)
        b.sign_in()
        status, page, _ = b.get("/archive")
        assert status == 200 and int(re.search(r'id="count">(\d+) item', page).group(1)) > 0
    finally:
        proc.kill()
        proc.wait(10)


def test_an_analyst_reaches_the_archive_from_the_subscription_link(workbench):
    from newswatch.alerts.feedback import LinkClaim, sign

    token = sign(SECRET, LinkClaim(s="desk", v="manage", e=int(time.time()) + 3600))
    b = Browser(workbench["base"])
    status, page, _ = b.get(f"/me/{token}")
    assert status == 200 and "Subscription of desk" in page and "belarus-iran" in page
    status, page, _ = b.get("/archive")
    assert status == 200 and "times in UTC" in page and "trade roadmap" in page
    assert b.get("/rules")[0] == 403                     # operators' pages stay closed
    other = sign(SECRET, LinkClaim(s="nobody", v="manage", e=int(time.time()) + 3600))
    assert Browser(workbench["base"]).get(f"/me/{other}")[0] == 404
