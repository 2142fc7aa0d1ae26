"""The crawl child process: ``python -m newswatch.spiders.child`` reads a ``CrawlJob`` on
stdin, crawls the sources with Scrapy, stores the items, records a crawl run per source,
and prints one ``SourceResult`` (JSON) per line on stdout as each source finishes.

Running Scrapy in a child keeps the Twisted reactor (which cannot restart) out of the
long-running scheduler, and lets the parent stop a hung crawl.
"""

from __future__ import annotations

import sys
from typing import Any, Optional, TextIO

from newswatch.spiders.job import CrawlJob
from newswatch.spiders.logs import setup_logging
from newswatch.spiders.results import SourceResult
from newswatch.spiders.retry import RETRY_CODES
from newswatch.spiders.sources import CrawlSettings, Source


def scrapy_settings(crawl: CrawlSettings, sources: list[Source], configured: Optional[list[str]] = None
                    ) -> dict[str, Any]:
    return {
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": True,
        "DOWNLOAD_TIMEOUT": crawl.timeout.total_seconds(),
        "DOWNLOAD_DELAY": crawl.delay.total_seconds(),
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_domain,
        "CONCURRENT_REQUESTS": crawl.concurrency,
        # a callback yields one batch of items, so Scrapy's 100 item workers per response
        # would be 100 idle tasks each time
        "CONCURRENT_ITEMS": 4,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(crawl.delay.total_seconds(), 0.1),
        "DOWNLOAD_MAXSIZE": crawl.max_response_size,
        "DOWNLOAD_WARNSIZE": 0,
        "REDIRECT_MAX_TIMES": crawl.max_redirects,
        "RETRY_ENABLED": crawl.retries > 0,
        "RETRY_TIMES": crawl.retries,
        "RETRY_HTTP_CODES": [],                       # answers are retried by RetryAfterMiddleware
        "NEWSWATCH_RETRY_CODES": RETRY_CODES,
        "NEWSWATCH_MAX_RETRY_WAIT": crawl.max_retry_wait.total_seconds(),
        "NEWSWATCH_URL_POLICY": {"configured": sorted(set(configured or []) |
                                                      {u for s in sources for u in s.configured_urls()}),
                                 "allow_private": crawl.allow_private},
        "DNS_RESOLVER": "newswatch.spiders.middlewares.PolicyResolver",
        # only the web: a remote page must never make the crawler read a local file
        "DOWNLOAD_HANDLERS": {"file": None, "s3": None, "ftp": None, "data": None},
        "COMPRESSION_ENABLED": True,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_ENABLED": False,
        "ITEM_PIPELINES": {"newswatch.spiders.pipeline.StorePipeline": 300},
        "DOWNLOADER_MIDDLEWARES": {
            "newswatch.spiders.middlewares.UrlPolicyMiddleware": 50,
            "newswatch.spiders.middlewares.RetryAfterMiddleware": 551,
        },
    }


def run_job(job: CrawlJob, out: TextIO = sys.stdout) -> list[SourceResult]:
    from scrapy.crawler import CrawlerProcess

    from newswatch.spiders.spider import NewsSpider
    from newswatch.storage.crawl_repo import CrawlRepository
    from newswatch.storage.engine import Database

    db = Database(job.storage_url)
    repo = CrawlRepository(db)
    process = CrawlerProcess(settings={**scrapy_settings(job.crawl, job.sources, job.configured), **job.scrapy},
                             install_root_handler=False)
    results: list[SourceResult] = []

    def on_result(res: SourceResult) -> None:
        results.append(res)
        out.write(res.to_json() + "\n")
        out.flush()

    # One crawler per TLS policy (the context factory is per crawler).
    groups: dict[bool, list[Source]] = {}
    for source in job.sources:
        verify = job.crawl.verify_tls if source.verify_tls is None else source.verify_tls
        groups.setdefault(verify, []).append(source)
    for verify, members in groups.items():
        factory = ("scrapy.core.downloader.contextfactory.BrowserLikeContextFactory" if verify
                   else "scrapy.core.downloader.contextfactory.ScrapyClientContextFactory")
        cls = type(f"NewsSpider_{'verify' if verify else 'noverify'}", (NewsSpider,),
                   {"custom_settings": {"DOWNLOADER_CLIENTCONTEXTFACTORY": factory}})
        process.crawl(process.create_crawler(cls), sources=members, crawl=job.crawl, repo=repo,
                      verbose=job.verbose, on_result=on_result)
    process.start()
    db.close()
    return results


def main() -> int:
    job = CrawlJob.from_json(sys.stdin.read())
    setup_logging(job.log_level, job.log_format)
    run_job(job)
    return 0


if __name__ == "__main__":
    sys.exit(main())
