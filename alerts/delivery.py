"""Delivery transports: ``outbox`` (one .eml file per message) and ``smtp``.

A transport either hands the whole message over or raises DeliveryError; the caller
records deliveries only after success, so a failed send is retried at the next run.
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
import tempfile
from datetime import datetime, timezone
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Literal, Optional, Protocol

from pydantic import BaseModel, ConfigDict, Field

from alerts.errors import DeliveryError


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
            with os.fdopen(fd, "wb") as fh:
                fh.write(msg.as_bytes())
            os.replace(tmp, final)
        except OSError as exc:
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
        except (smtplib.SMTPException, OSError, socket.timeout, ssl.SSLError) as exc:
            raise DeliveryError(f"SMTP {where}: {type(exc).__name__}: {exc}") from exc
        return f"smtp://{where}"


def _envelope_from(msg) -> str:
    return parseaddr(str(msg["From"]))[1]


def _envelope_to(msg) -> list[str]:
    return [addr for _, addr in getaddresses([str(msg[h]) for h in ("To", "Cc", "Bcc") if msg.get(h)]) if addr]


def make_transport(settings: EmailSettings, password: Optional[str] = None) -> Transport:
    if settings.transport == "smtp":
        return SmtpTransport(settings.smtp, password)
    return OutboxTransport(settings.outbox_dir)
