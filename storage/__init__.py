"""Bottom layer: the database — engine, schema, migrations, locks — and one repository per
side: ``CrawlRepository`` (items, crawl runs, HTTP validators, tombstones) for the crawl
layer and ``AlertsRepository`` (matches, deliveries, digests, source alerts, feedback) for
the alerts layer. Both return typed rows (``storage.rows``).

Nothing here imports ``spiders``, ``alerts`` or ``scheduler`` (checked by import-linter).
"""
