"""Rendering a digest as an email: plain text and HTML (Jinja2, autoescaped) in one message.

Everything that came from a site is escaped; only http(s) links become links; header
values are flattened to one line so a title with CR/LF cannot add headers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
import email.policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Optional

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from alerts.digest import Subscription
from spiders.items import NewsItem

MAX_TITLE = 300
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")


def one_line(text: Optional[str], limit: int = MAX_TITLE) -> str:
    """Flatten to a single safe line: no CR/LF or control characters, bounded length."""
    text = _CTRL.sub(" ", (text or "").replace("\r", " ").replace("\n", " "))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def safe_url(url: Optional[str]) -> Optional[str]:
    if url and re.match(r"^https?://", url.strip(), re.I):
        return url.strip()
    return None


@dataclass
class Entry:
    item: NewsItem
    topic_id: str
    evidence: dict
    source_name: str
    also: list[tuple[NewsItem, str]] = field(default_factory=list)   # (item, source name)
    other_topics: list[str] = field(default_factory=list)


@dataclass
class TopicSection:
    topic_id: str
    title: str
    entries: list[Entry]


@dataclass
class SourceState:
    source_id: str
    name: str
    ok: bool
    failing_since: Optional[datetime] = None
    last_error: Optional[str] = None


@dataclass
class Digest:
    subscription: Subscription
    sections: list[TopicSection]
    sources: list[SourceState]
    generated_at: datetime
    list_id: str = "newswatch.localhost"
    manage_hint: str = "Ask your newswatch operator, or edit your entry under 'subscribers:' in settings.yaml."

    @property
    def item_ids(self) -> list[int]:
        ids = []
        for s in self.sections:
            for e in s.entries:
                ids.append(e.item.id)
                ids.extend(i.id for i, _ in e.also)
        return ids

    @property
    def count(self) -> int:
        return sum(len(s.entries) for s in self.sections)


def _local(dt: Optional[datetime], sub: Subscription) -> str:
    if dt is None:
        return ""
    return dt.astimezone(sub.zone).strftime("%d %b %Y %H:%M")


def highlight(snippet: dict) -> Markup:
    """Escape the snippet and wrap the matched spans in <mark>."""
    text = snippet.get("text") or ""
    out, pos = [], 0
    for start, end in sorted(snippet.get("highlights") or []):
        if start < pos or end > len(text):
            continue
        out.append(escape(text[pos:start]))
        out.append(Markup('<mark style="background:#fff3a3;padding:0 1px;">') + escape(text[start:end]) + Markup("</mark>"))
        pos = end
    out.append(escape(text[pos:]))
    body = Markup("").join(out)
    if snippet.get("before"):
        body = Markup("…") + body
    if snippet.get("after"):
        body = body + Markup("…")
    return body


def highlight_text(snippet: dict) -> str:
    text = snippet.get("text") or ""
    out, pos = [], 0
    for start, end in sorted(snippet.get("highlights") or []):
        if start < pos or end > len(text):
            continue
        out += [text[pos:start], "*", text[start:end], "*"]
        pos = end
    out.append(text[pos:])
    s = one_line("".join(out), 600)
    return ("…" if snippet.get("before") else "") + s + ("…" if snippet.get("after") else "")


_env = Environment(loader=PackageLoader("alerts", "templates"),
                   autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
                   trim_blocks=True, lstrip_blocks=True)
_text_env = Environment(loader=PackageLoader("alerts", "templates"), autoescape=False,
                        trim_blocks=True, lstrip_blocks=True)
for env in (_env, _text_env):
    env.filters["one_line"] = one_line
    env.filters["safe_url"] = safe_url
    env.globals["highlight"] = highlight
    env.globals["highlight_text"] = highlight_text


def subject(digest: Digest) -> str:
    parts = [f"{s.title}: {len(s.entries)}" for s in digest.sections if s.entries]
    if not parts:
        return one_line("newswatch: no new items")
    total = digest.count
    return one_line(f"newswatch: {total} new item{'s' if total != 1 else ''} — " + "; ".join(parts), 200)


def summary_line(digest: Digest) -> str:
    total = digest.count
    topics = len([s for s in digest.sections if s.entries])
    return f"{total} new item{'s' if total != 1 else ''} in {topics} topic{'s' if topics != 1 else ''}"


def _context(digest: Digest) -> dict:
    sub = digest.subscription
    failing = [s for s in digest.sources if not s.ok]
    return {
        "digest": digest, "sub": sub, "subject": subject(digest), "summary": summary_line(digest),
        "local": lambda dt: _local(dt, sub), "failing": failing,
        "checked": len(digest.sources), "healthy": len(digest.sources) - len(failing),
        "generated": _local(digest.generated_at, sub), "zone": sub.timezone,
    }


def render_html(digest: Digest) -> str:
    return _env.get_template("digest.html.j2").render(**_context(digest))


def render_text(digest: Digest) -> str:
    return _text_env.get_template("digest.txt.j2").render(**_context(digest))


class PreparedMessage:
    """A message whose body was serialised once: headers per recipient, body shared.

    Flattening a 500 KB digest costs more than building it; subscribers who get the same
    digest share the flattened multipart body and differ only in their headers.
    """

    def __init__(self, head: EmailMessage, body: bytes):
        self.head = head
        self.body = body

    def __getitem__(self, name: str):
        return self.head[name]

    def get(self, name: str, default=None):
        return self.head.get(name, default)

    def as_bytes(self) -> bytes:
        head = b"".join(SMTP_POLICY.fold_binary(name, value) for name, value in self.head.items())
        return head + b"\r\n" + self.body


SMTP_POLICY = email.policy.SMTP            # CRLF line ends, as on the wire


def mime_bodies(digest: Digest) -> tuple[str, bytes]:
    """(boundary, the multipart/alternative body as bytes): text and HTML, encoded once."""
    outer = EmailMessage()
    outer.set_content(render_text(digest))
    outer.add_alternative(render_html(digest), subtype="html")
    flat = outer.as_bytes(policy=SMTP_POLICY)
    body = flat.split(b"\r\n\r\n", 1)[1]            # everything after the outer headers
    return outer.get_boundary(), body


def build_message(digest: Digest, sender: str, bodies: Optional[tuple[str, bytes]] = None) -> PreparedMessage:
    sub = digest.subscription
    boundary, body = bodies or mime_bodies(digest)
    msg = EmailMessage()
    msg["Subject"] = subject(digest)
    msg["From"] = sender
    msg["To"] = sub.email
    msg["Date"] = format_datetime(digest.generated_at)
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "localhost"
    msg["Message-ID"] = make_msgid("newswatch", domain=domain)
    msg["List-Id"] = f"newswatch digest <{sub.name}.{digest.list_id}>"
    msg["List-Unsubscribe"] = f"<mailto:{sender.rsplit('<', 1)[-1].strip('> ')}?subject=unsubscribe%20{sub.name}>"
    msg["X-Newswatch-Subscriber"] = one_line(sub.name, 100)
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
    return PreparedMessage(msg, body)
