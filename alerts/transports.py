"""Delivery transports, one small class per ``email.transport``: ``outbox`` (one .eml file
per message) and ``smtp``.

A transport either hands the whole message over or raises DeliveryError; the caller marks
deliveries sent only after success, so a failed send is retried at the next run.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
import tempfile
from datetime import datetime, timezone
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Literal, Optional, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from newswatch.alerts.errors import DeliveryError
from newswatch.alerts.subscriptions import check_header_value


class SmtpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    tls: bool = False                  # implicit TLS (SMTPS, usually port 465)
    username: Optional[str] = None
    password_env: str = "NEWSWATCH_SMTP_PASSWORD"
    timeout: float = Field(default=30.0, gt=0)
    verify_tls: bool = True


class EmailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: str = Field(default="newswatch <newswatch@localhost>", alias="from")
    transport: Literal["outbox", "smtp"] = "outbox"
    outbox_dir: str = "var/outbox"
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    list_id: str = "newswatch.localhost"
    max_per_topic: int = Field(default=25, ge=1, le=1000)
    archive_url: Optional[str] = None

    @field_validator("from_")
    @classmethod
    def _from(cls, v: str) -> str:
        check_header_value(v, "email.from")
        if "@" not in v:
            raise ValueError(f"{v!r} has no address; write it like 'newswatch <alerts@example.org>'")
        return v

    @field_validator("list_id")
    @classmethod
    def _list_id(cls, v: str) -> str:
        check_header_value(v, "email.list_id")
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9.-]*$", v):
            raise ValueError(f"{v!r} is not a list id; use letters, digits, dots and dashes (newswatch.example.org)")
        return v


class Sendable(Protocol):
    """An EmailMessage, or a PreparedMessage (headers plus a body serialised once)."""

    def __getitem__(self, name: str): ...

    def get(self, name: str, default=None): ...

    def as_bytes(self) -> bytes: ...


class Transport(Protocol):
    name: str

    def send(self, msg: Sendable) -> str:
        """Deliver; return where it went. Raise DeliveryError on failure."""


class OutboxTransport:
    name = "outbox"

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def send(self, msg: Sendable) -> str:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
            who = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(msg.get("X-Newswatch-Subscriber", "digest")))[:40]
            final = self.directory / f"{stamp}-{who}.eml"
            # write then rename: a reader never sees half a message
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        except OSError as exc:
            raise DeliveryError(f"cannot write to outbox {self.directory}: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(msg.as_bytes())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            # a full disk must not leave half a message behind
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise DeliveryError(f"cannot write to outbox {self.directory}: {exc}") from exc
        return str(final)


class SmtpTransport:
    name = "smtp"

    def __init__(self, settings: SmtpSettings, password: Optional[str] = None):
        self.settings = settings
        self.password = password

    def send(self, msg: Sendable) -> str:
        s = self.settings
        where = f"{s.host}:{s.port}"
        context = ssl.create_default_context()
        if not s.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            if s.tls:
                client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            with client:
                if s.starttls and not s.tls:
                    client.starttls(context=context)
                if s.username:
                    if self.password is None:
                        raise DeliveryError(f"SMTP {where}: username is set but the password variable "
                                            f"{s.password_env} is empty")
                    client.login(s.username, self.password)
                refused = client.sendmail(_envelope_from(msg), _envelope_to(msg), msg.as_bytes())
                if refused:
                    raise DeliveryError(f"SMTP {where} refused recipients: {', '.join(refused)}")
        except DeliveryError:
            raise
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            raise DeliveryError(f"SMTP {where} answered {exc.smtp_code}: {text}") from exc
        except (TimeoutError, smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"SMTP {where}: {type(exc).__name__}: {exc}") from exc
        return f"smtp://{where}"


def _envelope_from(msg) -> str:
    return parseaddr(str(msg["From"]))[1]


def _envelope_to(msg) -> list[str]:
    return [addr for _, addr in getaddresses([str(msg[h]) for h in ("To", "Cc", "Bcc") if msg.get(h)]) if addr]


TRANSPORTS = {
    "outbox": lambda settings, password: OutboxTransport(settings.outbox_dir),
    "smtp": lambda settings, password: SmtpTransport(settings.smtp, password),
}


def make_transport(settings: EmailSettings, password: Optional[str] = None) -> Transport:
    return TRANSPORTS[settings.transport](settings, password)
