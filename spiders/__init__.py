"""Bottom layer: Scrapy spiders, the items they yield, and the store they fill.

Nothing here imports ``alerts`` or ``scheduler`` (checked by import-linter).
"""
