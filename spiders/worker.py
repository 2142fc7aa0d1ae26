"""The crawl child process: ``python -m spiders.worker`` reads a job (JSON) on stdin,
crawls the sources with Scrapy, stores the items, records a crawl run per source, and
prints one JSON line per finished source on stdout.

Running Scrapy in a child keeps the Twisted reactor (which cannot restart) out of the
long-running scheduler, and lets the parent stop a hung crawl.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from scrapy.crawler import CrawlerProcess

from spiders.logformat import JsonFormatter
from spiders.sources import CrawlSettings, Source
from spiders.spider import NewsSpider
from spiders.store import Store

RETRY_CODES = [408, 429, 500, 502, 503, 504, 522, 524]


def scrapy_settings(crawl: CrawlSettings) -> dict:
    return {
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": True,
        "DOWNLOAD_TIMEOUT": crawl.timeout.total_seconds(),
        "DOWNLOAD_DELAY": crawl.delay.total_seconds(),
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_domain,
        "CONCURRENT_REQUESTS": 32,
        # a callback yields one batch of items, so Scrapy's 100 item workers per response
        # would be 100 idle asyncio tasks each time
        "CONCURRENT_ITEMS": 4,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(crawl.delay.total_seconds(), 0.1),
        "DOWNLOAD_MAXSIZE": crawl.max_response_size,
        "DOWNLOAD_WARNSIZE": 0,
        "REDIRECT_MAX_TIMES": crawl.max_redirects,
        "RETRY_ENABLED": crawl.retries > 0,
        "RETRY_TIMES": crawl.retries,
        "RETRY_HTTP_CODES": RETRY_CODES,
        "COMPRESSION_ENABLED": True,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "ERROR",
        "LOG_ENABLED": True,
        "LOG_INSTALL_ROOT_HANDLER": False,
        "ITEM_PIPELINES": {"spiders.pipelines.StorePipeline": 300},
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "spiders.middlewares.BackoffRetryMiddleware": 550,
        },
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
    }


def quiet_scrapy() -> None:
    """Scrapy's INFO chatter (stats dumps, middleware lists) is not for operators; our
    spider reports each source's outcome itself. Called after Scrapy configured logging."""
    for name in ("scrapy", "twisted", "py.warnings", "filelock", "trafilatura", "htmldate", "protego"):
        logging.getLogger(name).setLevel(logging.ERROR)


def run_job(job: dict, out=sys.stdout) -> list[dict]:
    store = Store(job["storage_url"])
    crawl = CrawlSettings.model_validate(job.get("crawl", {}))
    sources = [Source.model_validate(s) for s in job["sources"]]
    verbose = bool(job.get("verbose"))
    process = CrawlerProcess(settings={**scrapy_settings(crawl), **job.get("scrapy", {})})
    quiet_scrapy()
    results: list[dict] = []

    def on_result(res: dict) -> None:
        results.append(res)
        out.write(json.dumps(res, default=str, ensure_ascii=False) + "\n")
        out.flush()

    # One crawler per TLS policy (the context factory is per crawler); robots.txt is
    # decided per request.
    groups: dict[bool, list[Source]] = {}
    for source in sources:
        verify = crawl.verify_tls if source.verify_tls is None else source.verify_tls
        groups.setdefault(verify, []).append(source)
    for verify, members in groups.items():
        factory = ("scrapy.core.downloader.contextfactory.BrowserLikeContextFactory" if verify
                   else "scrapy.core.downloader.contextfactory.ScrapyClientContextFactory")
        cls = type(f"NewsSpider_{'verify' if verify else 'noverify'}", (NewsSpider,),
                   {"custom_settings": {"DOWNLOADER_CLIENTCONTEXTFACTORY": factory}})
        process.crawl(process.create_crawler(cls), sources=members, crawl_settings=crawl, store=store,
                      verbose=verbose, on_result=on_result)
    process.start()
    store.close()
    return results


class _LibraryNoise(logging.Filter):
    """Drop library records below ERROR, whatever levels Scrapy sets on its loggers."""

    PREFIXES = ("scrapy", "twisted", "py.warnings", "filelock", "trafilatura", "htmldate", "protego", "asyncio")

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or not record.name.startswith(self.PREFIXES)


def main() -> int:
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("NEWSWATCH_LOG_FORMAT") == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_LibraryNoise())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    import warnings
    warnings.filterwarnings("ignore", module="scrapy")
    job = json.load(sys.stdin)
    run_job(job)
    return 0


if __name__ == "__main__":
    sys.exit(main())
