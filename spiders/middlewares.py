"""Retries that honour Retry-After: a 429 or 503 that says when to come back is retried
then (up to a ceiling), not at once; other retryable answers back off exponentially."""

from __future__ import annotations

import asyncio
import email.utils
from datetime import datetime, timezone
from typing import Optional

from scrapy.downloadermiddlewares.retry import RetryMiddleware

MAX_WAIT = 120.0      # a server asking for longer is retried at the next crawl instead
BASE_BACKOFF = 1.0


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


class BackoffRetryMiddleware(RetryMiddleware):
    """Replaces Scrapy's RetryMiddleware (same settings: RETRY_TIMES, RETRY_HTTP_CODES)."""

    def __init__(self, settings):
        super().__init__(settings)
        self.max_wait = settings.getfloat("NEWSWATCH_MAX_RETRY_WAIT", MAX_WAIT)
        self.base = settings.getfloat("NEWSWATCH_RETRY_BACKOFF", BASE_BACKOFF)

    async def process_response(self, request, response, spider=None):
        if request.meta.get("dont_retry") or response.status not in self.retry_http_codes:
            return response
        attempt = request.meta.get("retry_times", 0)
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        if wait is None:
            wait = self.base * (2 ** attempt)
        if wait > self.max_wait:
            return response      # do not hold the crawl; the source is reported and retried next run
        retry = self._retry(request, f"HTTP {response.status}")
        if retry is None:
            return response
        await asyncio.sleep(wait)
        return retry
