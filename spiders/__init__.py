"""The crawl layer: one small reader per kind of page (feed, listing, sitemap, JSON,
article), the per-source state machine, one Scrapy spider for many sources, the pipeline
that stores items, and the crawl child process. It writes through
``storage.crawl_repo``; it never imports ``alerts`` or ``scheduler`` (import-linter).
"""
