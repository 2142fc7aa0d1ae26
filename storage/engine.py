"""The database: one SQLAlchemy engine per ``Database`` object, its schema kept current, and
driver errors turned into ``StorageError``s that say what to do.

SQLite needs nothing installed (WAL, so the crawl child writes while others read; a busy
timeout, so a second writer waits instead of failing). PostgreSQL is reached through
psycopg 3. Each ``Database`` migrates its own engine when opened: there is no module-level
registry, so two ``Database("sqlite:///:memory:")`` in one process each get their tables.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.pool import StaticPool

from newswatch.storage.errors import (
    DatabaseCorrupt,
    DatabaseFull,
    DatabaseLocked,
    DatabaseReadOnly,
    DatabaseUnavailable,
    SchemaTooNew,
    StorageError,
)
from newswatch.storage.locks import FileLock, PgAdvisoryLock

# The newest migration this code knows; ``ensure_schema`` compares the database's version
# with it in one query, so a process that needs no migration never imports Alembic.
SCHEMA_HEAD = "0005"
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 30_000
_MIGRATION_LOCK_KEY = 0x6E77_0001        # "nw" + 1: the advisory lock taken while migrating
_CYCLE_LOCK_KEY = 0x6E77_0002            # one crawl-match-deliver cycle at a time per installation


def sqlite_path(url: str) -> Optional[str]:
    """The file of a ``sqlite:///`` URL, or None (memory, or another database)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///"):].split("?", 1)[0]
    if path.startswith("file:"):
        path = path[len("file:"):]
    return None if path in ("", ":memory:") else path


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _sqlite_pragmas(busy_ms: int) -> Any:
    def apply(dbapi_conn: Any, _record: Any) -> None:
        _pragmas(dbapi_conn, busy_ms)
    return apply


def _pragmas(dbapi_conn: Any, busy_ms: int) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        if cur.execute("PRAGMA query_only").fetchone()[0] == 0:
            _wal(cur, busy_ms)
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA cache_size=-16000")      # 16 MB page cache
        cur.execute("PRAGMA synchronous=NORMAL")     # safe with WAL; a commit does not wait for fsync
    finally:
        cur.close()


def _wal(cur: Any, busy_ms: int) -> None:
    """Switch to WAL. A new file's first switch needs the database to itself: a process
    opening it at that moment is told "locked" at once (the busy timeout does not cover it),
    so it tries again for as long as the busy timeout."""
    deadline = time.monotonic() + busy_ms / 1000
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def translate(exc: BaseException, url: str, busy_ms: int = BUSY_TIMEOUT_MS) -> Optional[StorageError]:
    """A StorageError for a driver error a person can act on, else None."""
    orig = getattr(exc, "orig", exc)
    msg = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    where = sqlite_path(url) or redact(url)
    low = msg.lower()
    if isinstance(orig, sqlite3.DatabaseError) or "sqlite" in type(orig).__module__:
        if "file is not a database" in low or "malformed" in low or "disk image" in low:
            return DatabaseCorrupt(f"database {where} is corrupt or not a SQLite database ({msg}); "
                                   f"restore it from a backup, or move it aside to start a new one")
        if "readonly" in low or "read-only" in low:
            return DatabaseReadOnly(f"database {where} cannot be written ({msg}); check the permissions "
                                    f"of the file and of its folder")
        if "database is locked" in low or "database table is locked" in low:
            return DatabaseLocked(f"database {where} stayed locked by another process for more than "
                                  f"{busy_ms / 1000:g}s; is another newswatch stuck?")
        if "unable to open" in low:
            return DatabaseUnavailable(f"cannot open database {where} ({msg}); does its folder exist and "
                                       f"can it be written?")
        if "disk is full" in low or "disk i/o" in low:
            return DatabaseFull(f"database {where}: {msg}; free disk space")
    if type(orig).__module__.startswith("psycopg"):
        if "connection" in low and ("refused" in low or "failed" in low or "timeout" in low or "closed" in low) \
                or "could not connect" in low or "server closed" in low or "terminating connection" in low:
            return DatabaseUnavailable(f"cannot reach the database {where}: {msg}")
        if "does not exist" in low and "database" in low:
            return DatabaseUnavailable(f"{msg}; create it (createdb) or fix storage.url")
        if "read-only" in low:
            return DatabaseReadOnly(f"database {where} is read-only: {msg}")
        if "lock timeout" in low or "canceling statement due to lock" in low:
            return DatabaseLocked(f"database {where}: a row stayed locked by another process for more than "
                                  f"{busy_ms / 1000:g}s ({msg})")
        if "no space left" in low or "disk full" in low:
            return DatabaseFull(f"database {where}: {msg}")
    if isinstance(orig, OSError) and orig.errno == errno.ENOSPC:
        return DatabaseFull(f"database {where}: {msg}")
    return None


class Database:
    """An open database. ``read_only`` opens SQLite without writing (for ``check``);
    ``migrate=False`` only checks that the schema is current."""

    def __init__(self, url: str, *, read_only: bool = False, migrate: bool = True,
                 state_dir: Optional[str] = None, busy_timeout: float = BUSY_TIMEOUT_MS / 1000):
        self.url = url
        self.busy_ms = int(busy_timeout * 1000)
        self.read_only = read_only
        self.path = sqlite_path(url)
        self.state_dir = Path(state_dir) if state_dir else (Path(self.path).resolve().parent if self.path else None)
        self.engine = self._make_engine()
        if not read_only:
            try:
                self.ensure_schema(migrate=migrate)
            except BaseException:
                self.engine.dispose()
                raise

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _make_engine(self) -> Engine:
        url = self.url
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            if self.path is None:
                # one shared connection: every session of an in-memory database sees the same tables
                kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
            elif self.read_only:
                if not os.path.exists(self.path):
                    raise DatabaseUnavailable(f"database {self.path} does not exist yet (the first crawl creates it)")
                url = f"sqlite:///file:{Path(self.path).resolve()}?mode=ro&uri=true"
            else:
                folder = os.path.dirname(os.path.abspath(self.path))
                try:
                    os.makedirs(folder, exist_ok=True)
                except OSError as exc:
                    raise DatabaseUnavailable(
                        f"cannot create the folder of database {self.path}: {exc.strerror}") from None
        else:
            # lock_timeout: like SQLite's busy timeout, a writer waits for another, then says so
            kwargs.update(pool_pre_ping=True, pool_size=3, max_overflow=4,
                          connect_args={"options": f"-c lock_timeout={self.busy_ms}"})
        engine = create_engine(url, **kwargs)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas(self.busy_ms))

        def on_error(context: Any) -> None:
            mapped = translate(context.original_exception, self.url, self.busy_ms)
            if mapped is not None:
                raise mapped from context.original_exception

        event.listen(engine, "handle_error", on_error)
        return engine

    # ---- schema --------------------------------------------------------------------------
    def schema_version(self, conn: Connection) -> Optional[str]:
        try:
            with conn.begin_nested() if conn.in_transaction() else _nullctx():
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except (OperationalError, ProgrammingError):
            return None

    def ensure_schema(self, migrate: bool = True) -> None:
        """Bring the schema to SCHEMA_HEAD. Migrations run under a lock (an advisory lock on
        PostgreSQL, a lock file beside a SQLite file), so two processes opening a new
        database at once do not both create it."""
        with self.engine.connect() as conn:
            current = self.schema_version(conn)
        if current == SCHEMA_HEAD:
            return
        if current is not None and current > SCHEMA_HEAD:
            raise SchemaTooNew(f"database {redact(self.url)} has schema {current}, newer than this newswatch "
                               f"knows ({SCHEMA_HEAD}); upgrade newswatch")
        if not migrate:
            raise StorageError(f"database {redact(self.url)} has schema {current or 'none'}; run newswatch once "
                               f"to migrate it to {SCHEMA_HEAD}")
        with self._migration_lock():
            self._upgrade()

    def _migration_lock(self) -> PgAdvisoryLock | FileLock | _nullctx:
        if self.dialect == "postgresql":
            return PgAdvisoryLock(self.engine, _MIGRATION_LOCK_KEY, wait=True)
        if self.path:
            return FileLock(self.path + ".migrate.lock", wait=300)
        return _nullctx()

    def _upgrade(self) -> None:
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from sqlalchemy import inspect

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        with self.engine.begin() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
            if current == SCHEMA_HEAD:
                return                              # another process migrated while we waited
            cfg.attributes["connection"] = conn
            if current is None and inspect(conn).has_table("items"):
                command.stamp(cfg, "0001")           # a database from before migrations
            command.upgrade(cfg, "head")

    def cycle_lock(self, wait: float, role: str = "") -> FileLock | PgAdvisoryLock | NullLock:
        """The installation's cycle lock: one ``once``/``digest``/``run`` at a time."""
        if self.dialect == "postgresql":
            return PgAdvisoryLock(self.engine, _CYCLE_LOCK_KEY, wait=wait, role=role)
        if self.path:
            return FileLock(self.path + ".lock", wait=wait, role=role)
        return NullLock()

    def check(self) -> list[str]:
        """Problems found by reading the database without writing (for ``newswatch check``)."""
        problems = []
        try:
            with self.engine.connect() as conn:
                if self.dialect == "sqlite":
                    verdict = conn.execute(text("PRAGMA quick_check")).scalar()
                    if verdict != "ok":
                        problems.append(f"database {self.path} fails its integrity check: {verdict}")
                version = self.schema_version(conn)
                if version is None:
                    problems.append("database has no newswatch tables yet (the first crawl creates them)")
                elif version > SCHEMA_HEAD:
                    problems.append(f"database schema {version} is newer than this newswatch ({SCHEMA_HEAD})")
        except StorageError as exc:
            problems.append(str(exc))
        except DBAPIError as exc:
            problems.append(f"database {redact(self.url)}: {str(exc.orig).strip().splitlines()[0]}")
        return problems

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class NullLock:
    """An in-memory database is private to its process: nothing to lock."""

    held = True

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None

    def holder(self) -> str:
        return "nobody"

    def alive(self) -> bool:
        return True


class _nullctx:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None
