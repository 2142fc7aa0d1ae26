"""Settings of ``newswatch web`` (the workbench) and of the links digests carry to it."""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from newswatch.spiders.sources import check_url


class WebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: Optional[str] = None                 # where analysts reach the workbench; enables digest links
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    secret_env: str = "NEWSWATCH_WEB_SECRET"       # signs feedback links and sessions
    password_env: str = "NEWSWATCH_WEB_PASSWORD"   # the operators' password (or give password_hash)
    password_hash: Optional[str] = None            # pbkdf2_sha256$iterations$salt$hash (`newswatch web --hash-password`)
    link_days: int = Field(default=60, ge=1, le=3650)
    behind_proxy: bool = False                     # trust X-Forwarded-For/-Proto from a proxy on 127.0.0.1
    case_files: list[str] = Field(default_factory=list)   # labelled cases the rules workbench scores drafts on

    @field_validator("base_url")
    @classmethod
    def _base(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else check_url(v).rstrip("/")
