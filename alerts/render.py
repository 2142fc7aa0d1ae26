"""Rendering a digest as an email: plain text and HTML (Jinja2, autoescaped) in one message.

The templates receive one ``Digest`` (and filters); a rendered body is cached under that
object, so subscribers with equal digests share one rendering and one encoding.
Everything that came from a site is escaped; only http(s) links become links; header values
are flattened to one line, so a title with CR/LF cannot add headers.
"""

from __future__ import annotations

import email.policy
import re
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import lru_cache
from typing import TYPE_CHECKING, Optional

from newswatch.alerts.digest import Digest
from newswatch.alerts.subscriptions import Subscription

MAX_TITLE = 300
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")
SMTP_POLICY = email.policy.SMTP            # CRLF line ends, as on the wire


def one_line(text: Optional[str], limit: int = MAX_TITLE) -> str:
    """Flatten to a single safe line: no CR/LF or control characters, bounded length."""
    text = _CTRL.sub(" ", (text or "").replace("\r", " ").replace("\n", " "))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def safe_url(url: Optional[str]) -> Optional[str]:
    if url and re.match(r"^https?://", url.strip(), re.I):
        return url.strip()
    return None


if TYPE_CHECKING:
    from jinja2 import Environment


@lru_cache(maxsize=2)
def _env(autoescape: bool) -> Environment:
    # made (and Jinja2 imported) when the first digest is rendered, not by every command
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("newswatch.alerts", "templates"),
                      autoescape=select_autoescape(["html"], default_for_string=autoescape, default=autoescape)
                      if autoescape else False, trim_blocks=True, lstrip_blocks=True)
    env.filters["one_line"] = one_line
    env.filters["safe_url"] = safe_url
    return env


def render_html(digest: Digest) -> str:
    return _env(True).get_template("digest.html.j2").render(d=digest)


def render_text(digest: Digest) -> str:
    return _env(False).get_template("digest.txt.j2").render(d=digest)


class PreparedMessage:
    """A message whose body was serialised once: headers per recipient, body shared.

    Flattening a 500 KB digest costs more than building it; subscribers with equal digests
    share the flattened multipart body and differ only in their headers.
    """

    def __init__(self, head: EmailMessage, body: bytes):
        self.head = head
        self.body = body

    def __getitem__(self, name: str) -> str:
        return self.head[name]

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        return self.head.get(name, default)

    def as_bytes(self) -> bytes:
        head = b"".join(SMTP_POLICY.fold_binary(name, value) for name, value in self.head.items())
        return head + b"\r\n" + self.body


class RenderCache:
    """Bodies by digest: one rendering and encoding per distinct ``Digest`` in a run."""

    def __init__(self, limit: int = 64):
        self.bodies: dict[Digest, tuple[str, bytes]] = {}
        self.limit = limit

    def bodies_for(self, digest: Digest) -> tuple[str, bytes]:
        found = self.bodies.get(digest)
        if found is None:
            found = mime_bodies(digest)
            if len(self.bodies) >= self.limit:
                self.bodies.pop(next(iter(self.bodies)))
            self.bodies[digest] = found
        return found


def mime_bodies(digest: Digest) -> tuple[str, bytes]:
    """(boundary, the multipart/alternative body as bytes): text and HTML, encoded once."""
    outer = EmailMessage()
    outer.set_content(render_text(digest))
    outer.add_alternative(render_html(digest), subtype="html")
    flat = outer.as_bytes(policy=SMTP_POLICY)
    body = flat.split(b"\r\n\r\n", 1)[1]            # everything after the outer headers
    boundary = outer.get_boundary()
    assert boundary is not None
    return boundary, body


def build_message(digest: Digest, sub: Subscription, sender: str, list_id: str,
                  cache: Optional[RenderCache] = None) -> PreparedMessage:
    boundary, body = cache.bodies_for(digest) if cache else mime_bodies(digest)
    msg = EmailMessage()
    msg["Subject"] = one_line(digest.subject(), 200)
    msg["From"] = sender
    msg["To"] = sub.email
    msg["Date"] = format_datetime(digest.generated_at)
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "localhost"
    msg["Message-ID"] = make_msgid("newswatch", domain=domain)
    msg["List-Id"] = f"newswatch digest <{one_line(sub.name, 60).replace(' ', '-')}.{list_id}>"
    msg["List-Unsubscribe"] = f"<mailto:{sender.rsplit('<', 1)[-1].strip('> ')}?subject=unsubscribe>"
    msg["X-Newswatch-Subscriber"] = one_line(sub.name, 100)
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
    return PreparedMessage(msg, body)
