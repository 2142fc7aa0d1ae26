"""Process and infrastructure faults: SIGKILL during a crawl and during a send, SMTP down
for several runs, the database locked by another writer. After each, every item that
reached the store reaches the subscriber exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import threading
import time

import pytest
from aiosmtpd.controller import Controller

from newswatch.scheduler.sample_site import SiteServer
from tests.conftest import newswatch_cmd, write_settings
from tests.helpers import Mailbox, free_port, rss

pytestmark = pytest.mark.slow

SETTINGS = """
storage: {{url: "sqlite:///nw.db"}}
crawl: {{delay: 0s, retries: 0, timeout: 30s, autothrottle: false}}
sources:
  - {{id: fast, kind: feed, url: "{fast}/rss", obey_robots: false}}
  - {{id: slow, kind: feed, url: "{slow}/rss", obey_robots: false}}
terms:
  belarus: [Belarus]
topics:
  - {{id: belarus, all: [belarus]}}
subscribers:
  - {{name: desk, email: desk@example.org, topics: [belarus], digest: immediate}}
email:
  from: "newswatch <nw@example.org>"
  transport: smtp
  smtp: {{host: 127.0.0.1, port: {port}, timeout: 60}}
"""

FAST = [{"title": f"Belarus fast item {i}", "link": "{{base}}/f/%d" % i, "guid": f"f{i}"} for i in range(5)]
SLOW = [{"title": f"Belarus slow item {i}", "link": "{{base}}/s/%d" % i, "guid": f"s{i}"} for i in range(3)]


def titles(box: Mailbox) -> list[str]:
    return box.titles("desk@example.org")


def spawn(cfg, *args) -> subprocess.Popen:
    return subprocess.Popen(newswatch_cmd() + ["--config", str(cfg), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=cfg.parent)


def run(cfg, *args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(newswatch_cmd() + ["--config", str(cfg), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cfg.parent)


def stored(cfg) -> int:
    db = cfg.parent / "nw.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("select count(*) from items").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def test_sigkill_during_crawl_then_restart(tmp_path, smtp_server):
    with SiteServer() as fast, SiteServer() as slow:
        fast.add("/rss", rss(FAST), "application/rss+xml")
        slow.add("/rss", rss(SLOW), "application/rss+xml", delay=20)      # still downloading when killed
        cfg = write_settings(tmp_path / "settings.yaml", SETTINGS.format(fast=fast.base, slow=slow.base, port=smtp_server.port))
        proc = spawn(cfg, "once")
        deadline = time.monotonic() + 60
        while stored(cfg) < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stored(cfg) == 5
        os.killpg(proc.pid, signal.SIGKILL)                                  # the CLI and its crawl child
        proc.wait()
        assert smtp_server.messages == []
        slow.add("/rss", rss(SLOW), "application/rss+xml")                   # the site is fast again
        res = run(cfg, "once")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "slow: ok, 3 items (3 new" in res.stdout, res.stdout
    got = titles(smtp_server)
    for t in [i["title"] for i in FAST + SLOW]:
        assert got.count(t) == 1, (t, got)


class HoldingMailbox(Mailbox):
    """Holds the first DATA until released; the transaction then fails (client gone)."""

    def __init__(self):
        super().__init__()
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        if not self.holding.is_set():
            self.holding.set()
            # waits on the event in a worker thread: the server's loop stays free
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
            return "451 4.4.2 connection lost"
        return await super().handle_DATA(server, session, envelope)


def test_sigkill_during_digest_send_then_restart(tmp_path):
    box = HoldingMailbox()
    port = free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        with SiteServer() as fast, SiteServer() as slow:
            fast.add("/rss", rss(FAST), "application/rss+xml")
            slow.add("/rss", rss(SLOW), "application/rss+xml")
            cfg = write_settings(tmp_path / "settings.yaml", SETTINGS.format(fast=fast.base, slow=slow.base, port=port))
            proc = spawn(cfg, "once")
            assert box.holding.wait(60), "the digest never reached the SMTP server"
            os.killpg(proc.pid, signal.SIGKILL)                              # killed mid-send
            proc.wait()
            box.release.set()
            res = run(cfg, "digest")
            assert res.returncode == 0, res.stdout + res.stderr
            again = run(cfg, "once")
            assert "nothing new" in again.stdout
    finally:
        box.release.set()
        ctl.stop()
    got = titles(box)
    for t in [i["title"] for i in FAST + SLOW]:
        assert got.count(t) == 1, (t, got)


def test_smtp_down_for_several_runs_then_back(tmp_path):
    port = free_port()                                                       # nothing listens yet
    with SiteServer() as fast, SiteServer() as slow:
        fast.add("/rss", rss(FAST[:2]), "application/rss+xml")
        slow.add("/rss", rss(SLOW[:1]), "application/rss+xml")
        cfg = write_settings(tmp_path / "settings.yaml", SETTINGS.format(fast=fast.base, slow=slow.base, port=port))
        for i in range(3):
            res = run(cfg, "once")
            assert res.returncode == 1 and "NOT SENT" in res.stdout and "Connection refused" in res.stdout
            if i == 1:
                fast.add("/rss", rss(FAST[:4]), "application/rss+xml")      # news keeps coming meanwhile
        box = Mailbox()
        ctl = Controller(box, hostname="127.0.0.1", port=port)
        ctl.start()
        try:
            assert run(cfg, "once").returncode == 0
            assert "nothing new" in run(cfg, "once").stdout
        finally:
            ctl.stop()
    got = titles(box)
    assert len(box.messages) == 1
    for t in [i["title"] for i in FAST[:4] + SLOW[:1]]:
        assert got.count(t) == 1, (t, got)


def test_database_locked_by_another_writer(tmp_path, smtp_server):
    with SiteServer() as fast, SiteServer() as slow:
        fast.add("/rss", rss(FAST), "application/rss+xml")
        slow.add("/rss", rss(SLOW), "application/rss+xml")
        cfg = write_settings(tmp_path / "settings.yaml", SETTINGS.format(fast=fast.base, slow=slow.base, port=smtp_server.port))
        assert run(cfg, "check").returncode == 0
        run(cfg, "sources")                                                  # creates the database
        locked, done = threading.Event(), threading.Event()

        def hold_lock():
            conn = sqlite3.connect(cfg.parent / "nw.db", isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("insert into crawl_runs (source_id, started_at, finished_at, status, items_found, items_new, items_updated, duration) "
                         "values ('other', '2026-01-01', '2026-01-01', 'ok', 0, 0, 0, 0)")
            locked.set()
            time.sleep(4)
            conn.execute("COMMIT")
            conn.close()
            done.set()

        t = threading.Thread(target=hold_lock)
        t.start()
        assert locked.wait(10)
        res = run(cfg, "once")
        t.join()
        assert res.returncode == 0, res.stdout + res.stderr
        assert done.is_set()
    got = titles(smtp_server)
    for title in [i["title"] for i in FAST + SLOW]:
        assert got.count(title) == 1, title


def test_a_full_outbox_disk_leaves_no_half_message(tmp_path):
    """A real write limit (RLIMIT_FSIZE) stands in for a full disk: the send fails with a
    clear message, and no temporary file is left in the outbox."""
    import resource
    import textwrap

    outbox = tmp_path / "outbox"
    probe = textwrap.dedent(f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))
        from email.message import EmailMessage
        from newswatch.alerts.errors import DeliveryError
        from newswatch.alerts.transports import OutboxTransport
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "nw@example.org", "a@example.org", "x"
        msg.set_content("Belarus and Iran " * 1000)
        try:
            OutboxTransport({str(outbox)!r}).send(msg)
        except DeliveryError as exc:
            print("REFUSED", exc)
    """)
    del resource
    res = subprocess.run([__import__("sys").executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "REFUSED cannot write to outbox" in res.stdout, res.stdout + res.stderr
    assert list(outbox.iterdir()) == []
