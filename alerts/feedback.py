"""Signed links in digests: "relevant", "not relevant", "report a missed story", and the
subscriber's own page. A link carries what it is for (subscriber, item, topic, verdict) and
when it expires, signed with HMAC-SHA256 under the secret the settings name; it works
without a login, cannot be altered or forged, and expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional

VERDICTS = ("relevant", "not_relevant", "missed", "manage")


class BadLink(Exception):
    """The link was altered, forged, or has expired."""


@dataclass(frozen=True)
class LinkClaim:
    s: str                      # subscriber
    v: str                      # relevant | not_relevant | missed | manage
    e: int                      # expiry, Unix seconds
    i: Optional[int] = None     # item id
    t: Optional[str] = None     # topic id

    @property
    def link_id(self) -> str:
        """One verdict per link: the same link used twice records once."""
        return hashlib.sha256(_canonical(self)).hexdigest()[:32]


def _canonical(claim: LinkClaim) -> bytes:
    return json.dumps(asdict(claim), sort_keys=True, separators=(",", ":")).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: str, claim: LinkClaim) -> str:
    payload = _canonical(claim)
    mac = hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def verify(secret: str, token: str, now: Optional[datetime] = None) -> LinkClaim:
    try:
        payload_b64, mac_b64 = token.split(".", 1)
        payload, mac = _unb64(payload_b64), _unb64(mac_b64)
    except (ValueError, TypeError) as exc:
        raise BadLink("this link is not a newswatch link") from exc
    expected = hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise BadLink("this link was altered or was not made by this newswatch")
    try:
        claim = LinkClaim(**json.loads(payload))
    except (ValueError, TypeError) as exc:
        raise BadLink("this link is not a newswatch link") from exc
    if claim.v not in VERDICTS:
        raise BadLink("this link is not a newswatch link")
    now = now or datetime.now(timezone.utc)
    if claim.e < now.timestamp():
        raise BadLink("this link has expired; newer digests carry fresh links")
    return claim


def expiry(now: datetime, days: int) -> int:
    return int((now + timedelta(days=days)).timestamp())
