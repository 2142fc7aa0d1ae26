"""`newswatch web` in a real browser: Debian's headless Chromium driven by Selenium (its own
chromedriver, nothing downloaded), against the real command as a process on a store that a
real `newswatch once` filled from a local feed site.

Each test asserts what a person sees: the archive and an item's evidence, the rules
workbench previewing a draft as it is typed and saving it into settings.yaml (comments
kept, invalid drafts refused), the verdict links of a delivered digest, and the probe on
the sources page.

Screenshots for the docs (docs/workbench-archive.png, docs/workbench-rules.png) are
written only when NEWSWATCH_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from ruamel.yaml import YAML

from newswatch.scheduler.sample_site import SiteServer
from tests.conftest import REQUIRE, ROOT, newswatch_cmd
from tests.helpers import free_port, rss, wait_for

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:                      # reported by the `browser` fixture (a skip, or a failure in CI)
    webdriver = None                     # type: ignore[assignment]

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SECRET = "test-secret-for-the-browser-tests-0123456789"
PASSWORD = "operators-password-42"
SCREENSHOTS = os.environ.get("NEWSWATCH_SCREENSHOTS") == "1"
TOPIC = "belarus-iran"
COMMENT = "# newswatch web browser test: this comment must survive a save from the workbench"
TERMS_COMMENT = "  # relation words: one of them must stand in the sentence that pairs Belarus and Iran"

SETTINGS = """{comment}
storage: {{url: "sqlite:///state/nw.db"}}
crawl: {{delay: 0s, retries: 0, timeout: 5s}}
sources:
  - {{id: wire, name: Wire, kind: feed, url: "{base}/rss", obey_robots: false}}
  - {{id: weekly, name: Weekly, kind: feed, url: "{base}/weekly.xml", obey_robots: false}}
terms:
  belarus: [Belarus, Minsk, "Lukashenk*"]
  iran: [Iran, Iranian, Tehran]
{terms_comment}
  relations: [sign, trade, talks, visit]
topics:
  - id: belarus-iran
    name: Belarus – Iran
    all: [belarus, iran]
    any: [relations]
subscribers:
  - {{name: desk, email: desk@example.org, topics: [belarus-iran], digest: immediate}}
email:
  from: "newswatch <nw@example.org>"
  transport: outbox
  outbox_dir: outbox
web:
  base_url: "http://127.0.0.1:{port}"
  case_files: [cases.tsv]
"""

ROADMAP = "Belarus and Iran sign a roadmap on trade"
CHESS = "Minsk hosts a chess festival"
HISTORY = "Belarus and Iran: a century of contacts"       # no relation word: matches only without `any:`
CARPETS = "Tehran hosts a carpet fair"

WIRE = [
    {"title": ROADMAP, "link": "{{base}}/news/1", "guid": "w1",
     "summary": "Minsk and Tehran signed a roadmap to double their trade by 2027."},
    {"title": CHESS, "link": "{{base}}/news/2", "guid": "w2",
     "summary": "Players from forty countries came to Minsk for the open tournament."},
    {"title": HISTORY, "link": "{{base}}/news/3", "guid": "w3",
     "summary": "Historians look back at Belarus and Iran in the twentieth century."},
]
WEEKLY = [
    {"title": CARPETS, "link": "{{base}}/weekly/1", "guid": "k1",
     "summary": "Weavers from every province of Iran show their work."},
]

CASES = [
    ("id", "split", "lang", "kind", "topics", "title", "text", "url", "class", "note"),
    ("c1", "dev", "en", "headline", TOPIC, "Belarus and Iran sign a trade deal",
     "Minsk and Tehran agreed to trade more.", "", "relation", ""),
    ("c2", "dev", "en", "headline", "-", "Minsk hosts a jazz festival", "Musicians came to Minsk.", "", "", ""),
    ("c3", "dev", "en", "headline", TOPIC, "Belarus and Iran: shared history",
     "Belarus and Iran look back at a century.", "", "background", "the desk wants background pieces too"),
]


@dataclass
class Workbench:
    folder: Path
    settings: Path
    base: str                  # the workbench, http://127.0.0.1:<port>
    site: SiteServer
    env: dict[str, str]
    log: Path

    def url(self, path: str) -> str:
        return self.base + path

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(newswatch_cmd() + ["--config", str(self.settings), *args], capture_output=True,
                              text=True, timeout=120, env=self.env, cwd=self.folder)


def _browser_missing() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if webdriver is None:
        missing.append("the Python package selenium")
    if missing:
        reason = (f"headless Chromium is not usable here: missing {', '.join(missing)} "
                  f"(.ci/run installs Debian's chromium and chromium-driver)")
        (pytest.fail if REQUIRE else pytest.skip)(reason)


@pytest.fixture(scope="module")
def workbench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    """A feed site, settings.yaml, `newswatch once` (items stored, the digest in the outbox),
    then `newswatch web` as a process on a free port."""
    _browser_missing()
    folder = tmp_path_factory.mktemp("workbench")
    port = free_port()
    with SiteServer() as site:
        site.add("/rss", rss(WIRE, title="Wire"), "application/rss+xml")
        site.add("/weekly.xml", rss(WEEKLY, title="Weekly"), "application/rss+xml")
        settings = folder / "settings.yaml"
        settings.write_text(SETTINGS.format(comment=COMMENT, terms_comment=TERMS_COMMENT, base=site.base, port=port),
                            encoding="utf-8")
        (folder / "cases.tsv").write_text("".join("\t".join(row) + "\n" for row in CASES), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in ("NEWSWATCH_CONFIG", "NEWSWATCH_LOG_LEVEL",
                                                                 "NEWSWATCH_STORAGE_URL")}
        env.update(NEWSWATCH_WEB_SECRET=SECRET, NEWSWATCH_WEB_PASSWORD=PASSWORD)
        log = folder / "web.log"
        wb = Workbench(folder, settings, f"http://127.0.0.1:{port}", site, env, log)

        once = wb.cli("once")
        assert once.returncode == 0, once.stdout + once.stderr
        assert "4 new items" in once.stdout, once.stdout
        assert len(list((folder / "outbox").glob("*.eml"))) == 1, once.stdout + once.stderr

        with log.open("ab") as err:
            proc = subprocess.Popen(newswatch_cmd() + ["--config", str(settings), "web", "--port", str(port)],
                                    stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=folder)
        try:
            def answers() -> bool:
                if proc.poll() is not None:
                    raise AssertionError(f"newswatch web exited with {proc.returncode}:\n{log.read_text()}")
                try:
                    with urllib.request.urlopen(wb.url("/login"), timeout=2) as resp:
                        return resp.status == 200
                except OSError:
                    return False

            wait_for(answers, timeout=60, what="newswatch web to answer", every=0.2)
            yield wb
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def browser(workbench: Workbench, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], WebDriver]]:
    """Factory of fresh browser sessions (each its own profile, so its own cookies)."""
    made: list[WebDriver] = []

    def new() -> WebDriver:
        profile = tmp_path_factory.mktemp("chromium")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--window-size=1280,900", "--hide-scrollbars", f"--user-data-dir={profile}", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync"):
            opts.add_argument(arg)
        driver = webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER,
                                                                  log_output=str(profile / "chromedriver.log")))
        driver.set_page_load_timeout(30)
        made.append(driver)
        return driver

    yield new
    for d in made:
        d.quit()


@pytest.fixture(scope="module")
def operator(workbench: Workbench, browser: Callable[[], WebDriver]) -> WebDriver:
    """A browser session signed in as operator through the sign-in form."""
    driver = browser()
    sign_in(driver, workbench, "/sources")
    return driver


# ---- helpers -----------------------------------------------------------------------------
def wait(driver: WebDriver, timeout: float = 20) -> WebDriverWait:
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))


def text_of(driver: WebDriver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


def wait_text(driver: WebDriver, css: str, want: Callable[[str], bool] | str, timeout: float = 20) -> str:
    check = want if callable(want) else (lambda t: t == want)
    try:
        return wait(driver, timeout).until(lambda d: (lambda t: t if check(t) else False)(text_of(d, css)))
    except Exception as exc:
        raise AssertionError(f"{css} never showed {want!r}; the page says:\n{page_text(driver)}") from exc


def page_text(driver: WebDriver) -> str:
    try:
        return driver.find_element(By.TAG_NAME, "body").text
    except Exception:
        return "(no page)"


def sign_in(driver: WebDriver, wb: Workbench, path: str) -> None:
    """Open an operators' page: the workbench sends the browser to the sign-in form, which
    brings it back once the password is given."""
    driver.get(wb.url(path))
    wait(driver).until(lambda d: d.current_url.startswith(wb.url("/login?")))
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "signin").click()
    wait(driver).until(lambda d: d.current_url == wb.url(path))
    assert "operator (operator)" in text_of(driver, "header .who")


def screenshot(driver: WebDriver, name: str) -> None:
    if SCREENSHOTS:
        driver.save_screenshot(str(ROOT / "docs" / name))


def draft_value(driver: WebDriver) -> str:
    return driver.find_element(By.ID, "draft").get_attribute("value") or ""


def type_draft(driver: WebDriver, text: str) -> None:
    """Replace the draft as a person would: select everything in the textarea and type."""
    area = driver.find_element(By.ID, "draft")
    area.clear()
    area.send_keys(text)
    assert draft_value(driver).replace("\r\n", "\n") == text


def topic_in(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return next(t for t in data["topics"] if t["id"] == TOPIC)


# ---- tests -------------------------------------------------------------------------------
def test_operator_signs_in_searches_the_archive_and_sees_why_an_item_matched(workbench, browser):
    driver = browser()
    driver.get(workbench.url("/login"))
    driver.find_element(By.ID, "password").send_keys("not the password")
    driver.find_element(By.ID, "signin").click()
    assert wait_text(driver, "p.error", "That is not the operators' password.")
    assert "Operators sign in" in page_text(driver)

    sign_in(driver, workbench, "/archive")
    assert text_of(driver, "#count").startswith("4 items")
    titles = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#results a.title")]
    assert sorted(titles) == sorted([ROADMAP, CHESS, HISTORY, CARPETS])
    screenshot(driver, "workbench-archive.png")

    box = driver.find_element(By.ID, "q")
    box.send_keys("roadmap")
    driver.find_element(By.CSS_SELECTOR, "#search button[type=submit]").click()
    wait(driver).until(lambda d: "q=roadmap" in d.current_url)
    assert wait_text(driver, "#count", lambda t: t.startswith("1 item "))
    results = driver.find_element(By.ID, "results").text
    assert ROADMAP in results and CHESS not in results and HISTORY not in results
    assert TOPIC in text_of(driver, "#results .meta")            # the topic it matched, as a tag

    driver.find_element(By.LINK_TEXT, ROADMAP).click()
    assert wait_text(driver, "#item-title", ROADMAP)
    evidence = driver.find_element(By.CSS_SELECTOR, ".evidence")
    assert TOPIC in evidence.text and "Wire" in page_text(driver)
    marked = [m.text for m in evidence.find_elements(By.CSS_SELECTOR, ".snippet mark")]
    # the deciding sentence with Belarus' and Iran's terms (and the relation) marked
    assert set(marked) & {"Belarus", "Minsk"} and set(marked) & {"Iran", "Tehran"}, marked
    assert set(marked) & {"sign", "signed", "trade"}, marked
    mark_colour = evidence.find_element(By.CSS_SELECTOR, "mark").value_of_css_property("background-color")
    assert mark_colour == "rgba(255, 243, 163, 1)"             # highlighted: the stylesheet's #fff3a3


def test_rules_workbench_previews_as_you_type_saves_with_comments_and_refuses_an_invalid_draft(workbench, operator):
    driver = operator
    driver.get(workbench.url(f"/rules?topic={TOPIC}"))
    assert wait_text(driver, "#live-count", "1")
    assert (text_of(driver, "#draft-count"), text_of(driver, "#gained-count"), text_of(driver, "#lost-count")) == \
        ("1", "0", "0")
    original = draft_value(driver).replace("\r\n", "\n")
    assert "any: [relations]" in original, original
    before_file = workbench.settings.read_text(encoding="utf-8")

    # drop the required relation: the background piece is gained, shown while typing, nothing submitted
    driver.execute_script("window.newswatchTestMarker = 'the same page';")
    at = driver.current_url
    edited = re.sub(r"(?m)^\s*any: \[relations\]\n", "", original)
    assert edited != original
    type_draft(driver, edited)
    assert wait_text(driver, "#gained-count", "1")
    assert text_of(driver, "#draft-count") == "2" and text_of(driver, "#lost-count") == "0"
    assert HISTORY in text_of(driver, "#results ul.changes")
    assert driver.execute_script("return window.newswatchTestMarker;") == "the same page"   # no reload
    assert driver.current_url == at and workbench.settings.read_text(encoding="utf-8") == before_file
    recall = driver.find_elements(By.CSS_SELECTOR, "#scores-draft td")[2].text
    assert recall == "1.000", text_of(driver, "#scores")          # the labelled background case is caught
    screenshot(driver, "workbench-rules.png")

    driver.find_element(By.ID, "save").click()
    assert wait_text(driver, "#saved", lambda t: t.startswith("Saved into"))
    saved_file = workbench.settings.read_text(encoding="utf-8")
    assert "any" not in topic_in(workbench.settings)
    assert topic_in(workbench.settings)["all"] == ["belarus", "iran"]
    assert COMMENT in saved_file.splitlines() and TERMS_COMMENT in saved_file.splitlines()
    assert saved_file.replace("    any: [relations]\n", "") == saved_file
    assert before_file.replace("    any: [relations]\n", "", 1) == saved_file   # nothing else changed
    # the page now shows the saved rules as the live ones
    assert wait_text(driver, "#live-count", "2") and text_of(driver, "#gained-count") == "0"

    # a draft naming a term list that does not exist: the preview says so, and saving is refused
    broken = draft_value(driver).replace("\r\n", "\n").replace("all: [belarus, iran]", "all: [belarus, iran, nosuchlist]")
    assert "nosuchlist" in broken
    type_draft(driver, broken)
    assert wait_text(driver, "#draft-problems", lambda t: "nosuchlist" in t)
    driver.find_element(By.ID, "save").click()
    assert wait_text(driver, "#save-error", lambda t: t.startswith("Not saved:") and "nosuchlist" in t)
    assert "nosuchlist" in draft_value(driver)                   # the draft is kept for fixing
    assert workbench.settings.read_text(encoding="utf-8") == saved_file


def test_a_verdict_link_from_the_delivered_digest_records_once_and_a_tampered_one_is_refused(workbench, browser):
    (eml,) = (workbench.folder / "outbox").glob("*.eml")
    msg = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert msg["To"] == "desk@example.org"
    html = lxml.html.fromstring(msg.get_body(("html",)).get_content())
    (link,) = html.xpath("//a[contains(concat(' ', @class, ' '), ' fb-relevant ')]/@href")
    plain = msg.get_body(("plain",)).get_content()
    assert f"Relevant: {link}" in plain.replace("\r\n", "\n")
    assert link.startswith(workbench.url("/f/"))

    driver = browser()                                           # not signed in: the link alone is enough
    driver.get(link)
    # opening the link records nothing (link scanners open links, some run scripts): one click does
    assert wait_text(driver, "main h1", "Relevant?")
    assert ROADMAP in text_of(driver, "main")
    driver.find_element(By.ID, "confirm").click()
    assert wait_text(driver, "main h1", "Thank you")
    assert f"Recorded: “{ROADMAP}” is relevant to {TOPIC}. Thank you." in text_of(driver, "main .message")
    assert "Operators sign in" in text_of(driver, "header")

    driver.get(link)
    driver.find_element(By.ID, "confirm").click()
    assert wait_text(driver, "main h1", "Already recorded")
    assert "already recorded" in text_of(driver, "main .message")

    token = link.rsplit("/", 1)[1]
    payload, mac = token.split(".")
    wrong = mac[:5] + ("A" if mac[5] != "A" else "B") + mac[6:]
    tampered = f"{workbench.url('/f/')}{payload}.{wrong}"
    driver.get(tampered)
    assert wait_text(driver, "main h1", lambda t: "cannot be used" in t)
    assert "altered" in text_of(driver, "main .message")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(tampered, timeout=10)
    assert refused.value.code == 403

    ev = workbench.cli("eval", "--summary")
    assert ev.returncode == 0, ev.stdout + ev.stderr
    assert "with 1 verdict analysts gave" in ev.stderr, ev.stderr
    assert "1 case(s)" in ev.stdout, ev.stdout


def test_probe_on_the_sources_page_recognises_the_feed(workbench, operator):
    driver = operator
    driver.get(workbench.url("/sources"))
    health = text_of(driver, "#health")
    assert "Wire" in health and "Weekly" in health
    feed = workbench.site.base + "/rss"
    driver.find_element(By.ID, "probe-url").send_keys(feed)
    driver.find_element(By.ID, "probe").click()
    result = wait_text(driver, "#probe-result", lambda t: "looks like a feed" in t)
    assert result.startswith(f"{feed}: looks like a feed"), result
    assert not driver.find_elements(By.ID, "probe-error")
