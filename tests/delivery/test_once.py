"""`newswatch once` end to end — local feeds, a local SMTP server — and exactly-once delivery
when things go wrong: SMTP down, several `once` at the same time, a database that will not
record an accepted delivery, retention."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from newswatch.scheduler.sample_site import SiteServer
from tests.conftest import newswatch_cmd, write_settings
from tests.helpers import Mailbox, free_port, rss, wait_for

SETTINGS = """
storage: {{url: "{db}", busy_timeout: {busy}}}
crawl: {{delay: 0s, retries: 0, timeout: 10s, autothrottle: false}}
sources:
  - {{id: belta, name: BelTA, kind: feed, url: "{a}/rss", obey_robots: false}}
  - {{id: edm, name: Jamestown, kind: feed, url: "{b}/feed", obey_robots: false}}
terms:
  belarus: [Belarus, Minsk, "Lukashenk*"]
  iran: [Iran, Tehran]
  china: [China, Beijing]
topics:
  - {{id: belarus-iran, all: [belarus, iran]}}
  - {{id: belarus-china, all: [belarus, china]}}
subscribers:
  - {{name: iran-desk, email: iran@example.org, topics: [belarus-iran], digest: immediate}}
  - {{name: china-desk, email: china@example.org, topics: [belarus-china], digest: immediate}}
  - {{name: both, email: both@example.org, topics: [belarus-iran, belarus-china], digest: immediate}}
email:
  from: "newswatch <nw@example.org>"
  transport: smtp
  smtp: {{host: 127.0.0.1, port: {port}, timeout: 20}}
"""

A = [{"title": "Belarus and Iran sign roadmap", "link": "{{base}}/a/1", "guid": "a1"},
     {"title": "Lukashenko visits Beijing", "link": "{{base}}/a/2?utm_source=rss", "guid": "a2"},
     {"title": "Weather in Minsk", "link": "{{base}}/a/3", "guid": "a3"}]
B = [{"title": "Minsk and Tehran: a partnership examined", "link": "{{base}}/b/1", "guid": "b1"},
     {"title": "China's loans to Belarus", "link": "{{base}}/b/2", "guid": "b2"}]
IRAN = {"Belarus and Iran sign roadmap", "Minsk and Tehran: a partnership examined"}
CHINA = {"Lukashenko visits Beijing", "China's loans to Belarus"}


@pytest.fixture
def feeds():
    with SiteServer() as a, SiteServer() as b:
        a.add("/rss", rss(A), "application/rss+xml")
        b.add("/feed", rss(B), "application/rss+xml")
        yield a, b


def settings(tmp_path: Path, feeds, port: int, db: str = "sqlite:///nw.db", busy: str = "30s") -> Path:
    a, b = feeds
    return write_settings(tmp_path / "settings.yaml", SETTINGS.format(a=a.base, b=b.base, port=port, db=db, busy=busy))


def delivered(box: Mailbox, address: str) -> list[str]:
    return box.titles(address)


def test_once_delivers_each_subscriber_their_items_once(run_cli, tmp_path, feeds, smtp_server):
    cfg = settings(tmp_path, feeds, smtp_server.port)
    code, out, err = run_cli("once", config=cfg)
    assert code == 0, out + err
    assert "crawl: 2 of 2 sources ok; 5 new items" in out
    assert set(delivered(smtp_server, "iran@example.org")) == IRAN
    assert set(delivered(smtp_server, "china@example.org")) == CHINA
    assert set(delivered(smtp_server, "both@example.org")) == IRAN | CHINA
    (msg,) = smtp_server.to("china@example.org")
    assert f"{feeds[0].base}/a/2\n" in msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # canonical link
    code, out, _ = run_cli("once", config=cfg)                 # unchanged feeds: 304, nothing sent
    assert "not modified" in out and len(smtp_server.messages) == 3


def test_smtp_down_keeps_items_for_the_next_run(run_cli, tmp_path, feeds, smtp_server):
    cfg = settings(tmp_path, feeds, free_port())                # nothing listens there
    code, out, err = run_cli("once", config=cfg)
    assert code == 1 and "NOT SENT" in out and "Traceback" not in err
    cfg = settings(tmp_path, feeds, smtp_server.port)
    code, out, _ = run_cli("once", config=cfg)
    assert code == 0
    assert set(delivered(smtp_server, "both@example.org")) == IRAN | CHINA


def test_once_exits_1_when_every_source_failed(run_cli, tmp_path, smtp_server):
    class Dead:
        base = "http://127.0.0.1:9"

    cfg = settings(tmp_path, (Dead, Dead), smtp_server.port)
    code, out, _ = run_cli("once", config=cfg)
    assert code == 1 and "every source failed" in out


# ---- several processes at once ---------------------------------------------------------
class SlowSmtp:
    """A real SMTP server that takes 1–2 s to accept each message."""

    def __init__(self):
        self.box = Mailbox(delay=1.5)
        self.port = free_port()
        self.ctl = Controller(self.box, hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.ctl.start()
        return self

    def __exit__(self, *exc):
        self.ctl.stop()


def spawn(cfg: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(newswatch_cmd() + ["--config", str(cfg), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cfg.parent)


def no_duplicates_no_losses(box: Mailbox) -> None:
    for address, want in (("iran@example.org", IRAN), ("china@example.org", CHINA), ("both@example.org", IRAN | CHINA)):
        got = delivered(box, address)
        assert sorted(got) == sorted(want), f"{address}: {got}"


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_once_at_the_same_time_deliver_exactly_once(tmp_path, feeds, database, request):
    for rep in range(10):
        folder = tmp_path / f"rep{rep}"
        folder.mkdir()
        db = "sqlite:///nw.db" if database == "sqlite" else _fresh_pg(request)
        with SlowSmtp() as smtp:
            cfg = settings(folder, feeds, smtp.port, db)
            procs = [spawn(cfg, "once", "--wait", "60") for _ in range(2)]
            outs = [p.communicate(timeout=180) for p in procs]
            codes = [p.returncode for p in procs]
            assert all(c in (0, 3) for c in codes), (codes, outs)
            no_duplicates_no_losses(smtp.box)


def _fresh_pg(request) -> str:
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from tests.conftest import PG_ADMIN, need_service

    where = make_url(PG_ADMIN)
    need_service("PostgreSQL", where.host or "127.0.0.1", where.port or 5432,
                 "start it (pg_ctlcluster … main start) or set NEWSWATCH_TEST_PG")
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"newswatch_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    request.addfinalizer(drop)
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def test_an_overlapping_once_waits_then_exits_3_with_a_clear_message(tmp_path, feeds):
    with SlowSmtp() as smtp:
        smtp.box.delay = 4
        cfg = settings(tmp_path, feeds, smtp.port)
        first = spawn(cfg, "once")
        # items stored: the first holds the cycle lock (its digest then takes 4 s to send)
        wait_for(lambda: _stored(tmp_path / "nw.db") > 0, timeout=60, what="the first once storing items")
        second = subprocess.run(newswatch_cmd() + ["--config", str(cfg), "once", "--wait", "1"], capture_output=True,
                                text=True, cwd=tmp_path, timeout=60)
        first.communicate(timeout=120)
    assert second.returncode == 3, second.stderr
    assert "another newswatch is working on this database" in second.stderr and "pid" in second.stderr
    assert "Traceback" not in second.stderr
    no_duplicates_no_losses(smtp.box)


def _deliver_without_the_lock(cfg_path: str) -> None:
    from newswatch.scheduler import cycle
    from newswatch.scheduler.config import load_config
    from newswatch.scheduler.runtime import Runtime

    with Runtime(load_config(cfg_path)) as rt:
        cycle.deliver(rt)


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_claims_alone_prevent_duplicates_when_the_lock_is_bypassed(tmp_path, feeds, database, request, run_cli):
    """Defence in depth: four deliverers racing without the installation lock."""
    import multiprocessing

    db = "sqlite:///nw.db" if database == "sqlite" else _fresh_pg(request)
    with SlowSmtp() as smtp:
        smtp.box.delay = 1.0
        cfg = settings(tmp_path, feeds, free_port(), db)
        run_cli("crawl", config=cfg)                           # items stored and matched; nothing sent
        cfg = settings(tmp_path, feeds, smtp.port, db)
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=_deliver_without_the_lock, args=(str(cfg),)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        assert [p.exitcode for p in procs] == [0, 0, 0, 0]
        no_duplicates_no_losses(smtp.box)


def _stored(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return conn.execute("SELECT count(*) FROM items").fetchone()[0]
    except sqlite3.OperationalError:                      # not created yet
        return 0


# ---- accepted, but not recorded ----------------------------------------------------------
class LockingSmtp(Mailbox):
    """Accepts the first message, then holds the SQLite write lock for a while, as a stuck
    writer or a full disk would: newswatch cannot record the delivery it just made."""

    def __init__(self, db_path: Path, hold: float):
        super().__init__()
        self.db_path = db_path
        self.hold = hold                       # the longest it holds the lock
        self.locked = threading.Event()
        self.held = threading.Event()          # the lock is taken
        self.release = threading.Event()       # the test lets it go
        self.released = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        if not self.locked.is_set():
            self.locked.set()

            def hold():
                conn = sqlite3.connect(self.db_path, timeout=30)
                conn.execute("BEGIN EXCLUSIVE")
                self.held.set()
                self.release.wait(self.hold)
                conn.rollback()
                conn.close()
                self.released.set()

            threading.Thread(target=hold, daemon=True).start()
            assert self.held.wait(30), "the stuck writer never took the lock"
        return answer


@pytest.mark.slow
def test_a_delivery_the_database_will_not_record_is_journalled_not_resent(run_cli, tmp_path, feeds):
    box = LockingSmtp(tmp_path / "nw.db", hold=16)
    port = free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        cfg = settings(tmp_path, feeds, port, busy="1s")
        code, out, err = run_cli("once", config=cfg)
        assert "recorded in the journal" in out, out + err
        assert list((tmp_path / "var").glob("delivery-journal-*.jsonl"))
        assert "Traceback" not in err
        box.release.set()                                  # the stuck writer lets go
        assert box.released.wait(30)
        code, out, err = run_cli("once", config=cfg)
        assert code == 0, out + err
        no_duplicates_no_losses(box)
        assert not list((tmp_path / "var").glob("delivery-journal-*.jsonl"))
    finally:
        ctl.stop()


def test_retention_does_not_bring_pruned_items_back(run_cli, tmp_path, feeds, smtp_server):
    cfg = settings(tmp_path, feeds, smtp_server.port)
    cfg.write_text(cfg.read_text().replace("busy_timeout: 30s}", "busy_timeout: 30s, retention_days: 7}"))
    assert run_cli("once", config=cfg)[0] == 0
    with sqlite3.connect(tmp_path / "nw.db") as conn:            # the stored items are now 10 days old
        conn.execute("UPDATE items SET first_seen = datetime('now', '-10 days')")
    more = [{"title": "Belarus and Iran open trade house", "link": "{{base}}/a/9", "guid": "a9"}]
    for extra in (more, more + [{"title": "Belarus ships tractors to China", "link": "{{base}}/a/10", "guid": "a10"}]):
        feeds[0].add("/rss", rss(A + extra), "application/rss+xml")    # the feed changes and still carries A
        assert run_cli("once", config=cfg)[0] == 0
    with sqlite3.connect(tmp_path / "nw.db") as conn:
        assert conn.execute("SELECT count(*) FROM tombstones").fetchone()[0] >= 3
    for address in ("iran@example.org", "china@example.org", "both@example.org"):
        got = delivered(smtp_server, address)
        assert len(got) == len(set(got)), f"{address} got an item twice: {got}"
    assert "Belarus ships tractors to China" in delivered(smtp_server, "both@example.org")
