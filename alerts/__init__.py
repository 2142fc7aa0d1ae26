"""Middle layer: topic rules and matching, digests, delivery.

Imports ``spiders`` (the store and items) but never ``scheduler``, Scrapy or Twisted.
"""
