"""Earlier versions of settings.yaml, kept each time the workbench saves it, with the rules
hash they carried: what was live when, and the text to go back to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import insert, select

from newswatch.storage.engine import Database
from newswatch.storage.rows import aware
from newswatch.storage.schema import settings_versions


@dataclass(frozen=True)
class SettingsVersion:
    id: int
    rules_version: str
    saved_at: datetime
    saved_by: Optional[str]
    content: str


class VersionsRepository:
    def __init__(self, db: Database):
        self.db = db

    def add(self, rules_version: str, content: str, at: datetime, by: Optional[str]) -> int:
        with self.db.engine.begin() as conn:
            key = conn.execute(insert(settings_versions).values(
                rules_version=rules_version, content=content, saved_at=at, saved_by=by)).inserted_primary_key
            assert key is not None
            return int(key[0])

    def latest(self, limit: int = 20) -> list[SettingsVersion]:
        q = select(settings_versions).order_by(settings_versions.c.id.desc()).limit(limit)
        with self.db.engine.connect() as conn:
            return [SettingsVersion(r.id, r.rules_version, aware(r.saved_at), r.saved_by, r.content)
                    for r in conn.execute(q)]

    def get(self, version_id: int) -> Optional[SettingsVersion]:
        with self.db.engine.connect() as conn:
            r = conn.execute(select(settings_versions).where(settings_versions.c.id == version_id)).first()
        return SettingsVersion(r.id, r.rules_version, aware(r.saved_at), r.saved_by, r.content) if r else None
