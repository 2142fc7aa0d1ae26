"""The links a digest carries to the web workbench, when ``web.base_url`` and the signing
secret are set: a verdict per entry, "report a missed story", the subscriber's page and the
archive of a topic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional
from urllib.parse import quote

from newswatch.alerts.digest import FeedbackLinks
from newswatch.alerts.feedback import LinkClaim, expiry, sign
from newswatch.alerts.subscriptions import Subscription
from newswatch.scheduler.config import Config


@dataclass(frozen=True)
class DigestLinks:
    base: str
    secret: str
    days: int

    def _token(self, sub: Subscription, verdict: str, item: Optional[int] = None, topic: Optional[str] = None) -> str:
        now = datetime.now(timezone.utc)
        # expiry rounded to the day: links of one day's digests are equal, so equal digests stay shareable
        e = expiry(now.replace(hour=0, minute=0, second=0, microsecond=0), self.days)
        return sign(self.secret, LinkClaim(s=sub.name, v=verdict, e=e, i=item, t=topic))

    def feedback(self, sub: Subscription, item_id: int, topic: str) -> FeedbackLinks:
        return FeedbackLinks(f"{self.base}/f/{self._token(sub, 'relevant', item_id, topic)}",
                             f"{self.base}/f/{self._token(sub, 'not_relevant', item_id, topic)}")

    def missed(self, sub: Subscription) -> str:
        return f"{self.base}/missed/{self._token(sub, 'missed')}"

    def manage(self, sub: Subscription) -> str:
        return f"{self.base}/me/{self._token(sub, 'manage')}"

    def more(self, sub: Subscription, topic: str) -> str:
        return f"{self.base}/me/{self._token(sub, 'manage')}?topic={quote(topic)}"


def digest_links(cfg: Config) -> Optional[DigestLinks]:
    web = cfg.settings.web
    if not web.base_url or not cfg.web_secret:
        return None
    return DigestLinks(web.base_url, cfg.web_secret, web.link_days)
