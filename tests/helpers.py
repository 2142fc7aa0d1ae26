"""Helpers shared by the tests (one copy, imported where needed)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import message_from_bytes, policy
from typing import Any, Optional

from newswatch.spiders.urls import canonical_url, identity_key
from newswatch.storage.rows import ItemRecord

RSS_ITEM = """<item><title>{title}</title><link>{link}</link><guid>{guid}</guid>
<pubDate>{date}</pubDate><description>{summary}</description></item>"""


def rss(items: list[dict], title: str = "Test feed") -> str:
    body = "".join(RSS_ITEM.format(**{"date": "Thu, 30 Oct 2025 10:13:00 +0300", "summary": "", **i}) for i in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
            f"<link>{{{{base}}}}/</link><description>x</description>{body}</channel></rss>")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, what: str = "condition", every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Mailbox:
    """What the local SMTP server received. ``refuse``: answer 451 to that many DATA
    commands; ``delay``: seconds to wait before accepting (a slow server)."""

    messages: list = field(default_factory=list)
    refuse: int = 0
    refused: int = 0
    delay: float = 0.0
    host: str = "127.0.0.1"
    port: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.refuse > 0:
            self.refuse -= 1
            self.refused += 1
            return "451 4.3.0 try again later"
        msg = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "msg": msg})
        return "250 OK"

    def to(self, address: str) -> list:
        return [m["msg"] for m in self.messages if address in m["to"]]

    def titles(self, address: str) -> list[str]:
        """The item titles of every digest this address received (from the text part)."""
        out = []
        for m in self.to(address):
            text = m.get_body(("plain",)).get_content()
            out += [line[2:].strip() for line in text.splitlines() if line.startswith("* ")]
        return out


def titles_in(msg: Any) -> list[str]:
    text = msg.get_body(("plain",)).get_content()
    return [line[2:].strip() for line in text.splitlines() if line.startswith("* ")]


def record(source: str, url: str, title: str = "T", summary: str = "", body: str = "", guid: Optional[str] = None,
           published: Optional[datetime] = None, language: str = "en") -> ItemRecord:
    """An item as the crawl layer would hand it to the store."""
    canon = canonical_url(url)
    return ItemRecord(source_id=source, url=canon, url_key=identity_key(canon, True), title=title, summary=summary,
                      body=body, guid=guid, published=published, language=language,
                      first_seen=datetime.now(timezone.utc))
