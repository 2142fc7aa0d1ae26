"""Shared fixtures: real local HTTP servers, a real SMTP server (aiosmtpd), settings files,
PostgreSQL/Redis/RabbitMQ on 127.0.0.1 when present, and the ``newswatch`` command run
in-process or as a real process.

Tests that need PostgreSQL, Redis or RabbitMQ skip with a reason when the service is not
there; CI sets NEWSWATCH_TEST_REQUIRE_SERVICES=1, which turns those skips into failures.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Optional

import pytest
from aiosmtpd.controller import Controller

from newswatch.scheduler.sample_site import SiteServer
from tests.helpers import Mailbox, free_port

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
PG_ADMIN = os.environ.get("NEWSWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("NEWSWATCH_TEST_REDIS", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("NEWSWATCH_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
REQUIRE = os.environ.get("NEWSWATCH_TEST_REQUIRE_SERVICES") == "1"


def need_service(what: str, host: str, port: int, how: str) -> None:
    """Skip (or, in CI, fail) when a local service the test uses for real is not there."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError as exc:
        reason = (f"{what} is not reachable at {host}:{port} ({exc.strerror or exc}); {how}. "
                  f"Set NEWSWATCH_TEST_REQUIRE_SERVICES=1 to make this a failure (CI does).")
    if REQUIRE:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def site() -> Iterator[SiteServer]:
    """An empty local site; tests add routes with site.add(path, body, content_type)."""
    with SiteServer() as server:
        yield server


@pytest.fixture
def fixture_site() -> Iterator[Callable[[str], SiteServer]]:
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


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    box.host, box.port = "127.0.0.1", port
    yield box
    controller.stop()


def write_settings(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The ``newswatch`` entry point, in this process: (exit code, stdout, stderr)."""
    from newswatch.scheduler.cli import main

    monkeypatch.delenv("NEWSWATCH_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)

    def run(*args: str, config: Optional[Path] = None) -> tuple[int, str, str]:
        argv = (["--config", str(config)] if config else []) + list(args)
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def newswatch_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "newswatch"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "newswatch.scheduler"]


@pytest.fixture
def cli(tmp_path: Path):
    """The real ``newswatch`` command as a process; returns CompletedProcess (text)."""

    def run(*args: str, config: Optional[Path] = None, input: Optional[str] = None, env: Optional[dict] = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = newswatch_cmd() + (["--config", str(config)] if config else []) + list(args)
        full_env = {k: v for k, v in os.environ.items() if k != "NEWSWATCH_CONFIG"}
        full_env.update(env or {})
        return subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout, env=full_env,
                              cwd=tmp_path)

    return run


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database on 127.0.0.1 for one test, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    where = make_url(PG_ADMIN)
    need_service("PostgreSQL", where.host or "127.0.0.1", where.port or 5432,
                 "start it (pg_ctlcluster … main start) or set NEWSWATCH_TEST_PG")
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"newswatch_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Storage contract tests run against both databases."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/contract.db"
    return request.getfixturevalue("pg_url")


def _host_port(url: str, default: int) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default


@pytest.fixture
def rabbitmq() -> str:
    need_service("RabbitMQ", *_host_port(AMQP_URL, 5672), "start it (rabbitmq-server -detached) or set NEWSWATCH_TEST_AMQP")
    return AMQP_URL


@pytest.fixture
def redis_url() -> str:
    need_service("Redis", *_host_port(REDIS_URL, 6379), "start it (redis-server --daemonize yes) or set NEWSWATCH_TEST_REDIS")
    return REDIS_URL
