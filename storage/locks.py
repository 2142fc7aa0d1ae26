"""Locks shared between processes: a lock file for SQLite (``flock``: released by the kernel
when the holder dies) and a session advisory lock for PostgreSQL (released when the holder's
connection closes). Both record who holds them, so a refusal can name the holder.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from typing import Any, Optional

from sqlalchemy import text
from sqlalchemy.engine import Engine

POLL = 0.1


def whoami(role: str = "") -> str:
    return f"{role + ' ' if role else ''}pid {os.getpid()} on {socket.gethostname()}"


class FileLock:
    """An exclusive ``flock`` on a file. ``wait`` seconds (None: for ever) before giving up."""

    def __init__(self, path: str, wait: Optional[float] = 0.0, role: str = ""):
        self.path = path
        self.wait = wait
        self.role = role
        self.fd: Optional[int] = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = None if self.wait is None else time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(POLL)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"holder": whoami(self.role), "since": time.time()}).encode(), 0)
        self.fd = fd
        return True

    def holder(self) -> str:
        try:
            with open(self.path, encoding="utf-8") as fh:
                return json.loads(fh.read() or "{}").get("holder") or "another process"
        except (OSError, ValueError):
            return "another process"

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None

    @property
    def held(self) -> bool:
        return self.fd is not None

    def alive(self) -> bool:
        return self.fd is not None          # the kernel keeps a flock for as long as the descriptor

    def __enter__(self) -> FileLock:
        if not self.acquire():
            raise TimeoutError(f"lock {self.path} is held by {self.holder()}")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class PgAdvisoryLock:
    """A session-level advisory lock held on a connection of its own."""

    def __init__(self, engine: Engine, key: int, wait: bool | float = False, role: str = ""):
        self.engine = engine
        self.key = key
        self.wait = wait
        self.role = role
        self.conn: Any = None

    def acquire(self) -> bool:
        conn = self.engine.connect()
        conn.execute(text("SELECT set_config('application_name', :n, false)"),
                     {"n": ("newswatch " + whoami(self.role))[:63]})
        conn.commit()
        if self.wait is True:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
            conn.commit()
            self.conn = conn
            return True
        deadline = time.monotonic() + float(self.wait or 0)
        while True:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            conn.commit()
            if got:
                self.conn = conn
                return True
            if time.monotonic() >= deadline:
                conn.close()
                return False
            time.sleep(POLL)

    def holder(self) -> str:
        with self.engine.connect() as conn:
            name = conn.execute(text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.objid = :k AND l.granted LIMIT 1"),
                {"k": self.key & 0xFFFFFFFF}).scalar()
        return (name or "another process").removeprefix("newswatch ")

    def alive(self) -> bool:
        """Is the connection that holds the lock still up (the lock goes with it)?"""
        if self.conn is None:
            return False
        try:
            self.conn.execute(text("SELECT 1"))
            self.conn.commit()
            return True
        except Exception:   # noqa: BLE001 - any failure means the session, and the lock, are gone
            return False

    def release(self) -> None:
        if self.conn is not None:
            try:
                self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                self.conn.commit()
            except Exception:   # noqa: BLE001 - closing the session releases it anyway
                pass
            finally:
                self.conn.close()
                self.conn = None

    @property
    def held(self) -> bool:
        return self.conn is not None

    def __enter__(self) -> PgAdvisoryLock:
        if not self.acquire():
            raise TimeoutError(f"advisory lock {self.key} is held by {self.holder()}")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
