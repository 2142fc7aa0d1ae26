"""Shared fixtures: real local HTTP servers, a real SMTP server (aiosmtpd), settings files,
and the real ``newswatch`` entry point run as a process."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from scheduler.sample_site import SiteServer

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def site():
    """An empty local site; tests add routes with site.add(path, body, content_type)."""
    with SiteServer() as server:
        yield server


@pytest.fixture
def fixture_site():
    """Factory: serve tests/data/<name>/ (its routes.json) on its own local server."""
    servers = []

    def serve(name: str) -> SiteServer:
        server = SiteServer()
        server.add_folder(DATA / name)
        servers.append(server.start())
        return server

    yield serve
    for s in servers:
        s.stop()


@dataclass
class Mailbox:
    """What the local SMTP server received; ``refuse`` makes it answer 451 to DATA."""
    messages: list = field(default_factory=list)
    refuse: int = 0          # refuse this many DATA commands, then accept
    refused: int = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refuse > 0:
            self.refuse -= 1
            self.refused += 1
            return "451 4.3.0 try again later"
        msg = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "msg": msg})
        return "250 OK"

    def to(self, address: str) -> list:
        return [m["msg"] for m in self.messages if address in m["to"]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    box.host, box.port = "127.0.0.1", port
    yield box
    controller.stop()


def newswatch_cmd() -> list[str]:
    exe = shutil.which("newswatch", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return [exe] if exe else [sys.executable, "-m", "scheduler.cli"]


@pytest.fixture
def cli(tmp_path):
    """Run the real ``newswatch`` command; returns CompletedProcess (text)."""

    def run(*args: str, config: Path | None = None, input: str | None = None, env: dict | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = newswatch_cmd()
        if config is not None:
            cmd += ["--config", str(config)]
        full_env = dict(os.environ)
        full_env.pop("NEWSWATCH_CONFIG", None)
        full_env.update(env or {})
        return subprocess.run(cmd + list(args), capture_output=True, text=True, input=input, timeout=timeout,
                              env=full_env, cwd=tmp_path)

    return run


def write_settings(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


RSS_ITEM = """<item><title>{title}</title><link>{link}</link><guid>{guid}</guid>
<pubDate>{date}</pubDate><description>{summary}</description></item>"""


def rss(items: list[dict], title: str = "Test feed") -> str:
    body = "".join(RSS_ITEM.format(**{"date": "Thu, 30 Oct 2025 10:13:00 +0300", "summary": "", **i}) for i in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
            f"<link>{{{{base}}}}/</link><description>x</description>{body}</channel></rss>")


PG_ADMIN = os.environ.get("NEWSWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("NEWSWATCH_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database on 127.0.0.1 for one test, dropped afterwards."""
    import uuid

    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"newswatch_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:   # noqa: BLE001 - the reason is shown to whoever runs the tests
        pytest.fail(f"PostgreSQL at {PG_ADMIN} is needed for this test: {exc}")
    yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    from spiders.schema import _MIGRATED

    _MIGRATED.discard(PG_ADMIN.rsplit("/", 1)[0] + "/" + name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """The store contract runs against both databases."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/contract.db"
    return request.getfixturevalue("pg_url")
