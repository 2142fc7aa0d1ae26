"""When to ask a server again: the statuses worth a retry and what Retry-After asks for
(shared by the crawl child's middleware and the feeds read in the parent)."""

from __future__ import annotations

import email.utils
from datetime import datetime, timezone
from typing import Optional

RETRY_CODES = [408, 429, 500, 502, 503, 504, 522, 524]


def retry_after_seconds(value: Optional[bytes]) -> Optional[float]:
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
