"""One contract for the item store, run against SQLite and PostgreSQL (127.0.0.1:5432)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import inspect, text

from spiders.items import NewsItem
from spiders.store import CrawlRun, Store

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def item(n: int, **kw) -> NewsItem:
    base = dict(source_id="s", url=f"https://belta.by/news/{n}/", guid=f"g{n}", title=f"Title {n}",
                summary=f"Summary number {n} " * 6, first_seen=T0)
    base.update(kw)
    return NewsItem(**base)


def test_schema_is_migrated(store_url):
    store = Store(store_url)
    with store.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        version = conn.execute(text("select version_num from alembic_version")).scalar()
    assert {"items", "matches", "deliveries", "digests", "crawl_runs", "source_alerts", "http_cache"} <= tables
    assert version == "0001"
    store.close()


def test_upserts_and_identity(store_url):
    store = Store(store_url)
    states = store.upsert_items([item(1), item(2), item(3)])
    assert [s for s, _ in states] == ["new", "new", "new"]
    again = store.upsert_items([item(1), item(2, title="Title 2 (updated)"), item(4), item(4)])
    assert [s for s, _ in again] == ["same", "updated", "new", "same"]
    assert again[0][1] == states[0][1] and again[1][1] == states[1][1]
    # same article under another spelling of its URL, no GUID: one item
    assert store.upsert_item(item(5, guid=None))[0] == "new"
    assert store.upsert_item(item(5, guid=None, url="http://www.belta.by/news/5/?utm_source=x"))[0] == "same"
    assert store.count_items() == 5
    fetched = store.get_item(again[1][1])
    assert fetched.title == "Title 2 (updated)" and fetched.first_seen == T0
    store.close()


def test_matches_deliveries_and_digests(store_url):
    store = Store(store_url)
    ids = [i for _, i in store.upsert_items([item(n) for n in range(5)])]
    assert [it.id for it in store.iter_items(unmatched=True)] == ids
    store.save_matches_batch([(i, [{"topic_id": "t", "score": 2.0, "evidence": {"terms": ["Iran"]}}]) for i in ids[:3]], "v1")
    store.save_matches_batch([(i, []) for i in ids[3:]], "v1")
    assert list(store.iter_items(unmatched=True)) == []
    rows = store.matches_for(["t"], undelivered_to="ann")
    assert sorted(r[0].id for r in rows) == ids[:3] and rows[0][3] == {"terms": ["Iran"]}
    assert store.record_delivery("ann", ids[:2], "<m1@x>", at=T0) == 2
    assert store.record_delivery("ann", ids[:3], "<m2@x>", at=T0 + timedelta(minutes=1)) == 1   # no duplicates
    assert [k[0] for k in store.match_keys_for(["t"], undelivered_to="ann")] == []
    assert store.last_digest("ann") == T0 + timedelta(minutes=1)
    store.record_failed_digest("ann", "<m3@x>", 1, "451", at=T0 + timedelta(minutes=2))
    assert store.failures_since_success("ann") == 1
    assert store.count_matched_items() == 3
    store.close()


def test_crawl_history_alerts_validators_prune(store_url):
    store = Store(store_url)
    store.record_crawl(CrawlRun("s", T0, T0, "failed", error="HTTP 503"))
    store.record_crawl(CrawlRun("s", T0, T0 + timedelta(minutes=5), "ok", items_new=3))
    assert [r.status for r in store.crawl_history("s")] == ["ok", "failed"]
    store.open_source_alert("s", "failing", "down", T0)
    store.mark_source_alert("s", notified=True)
    assert store.get_source_alert("s")["notified"] is True
    store.close_source_alert("s")
    assert store.get_source_alert("s") is None
    store.set_validators("https://belta.by/rss", '"abc"', "Mon, 05 Jan 2026 08:00:00 GMT")
    assert store.get_validators("https://belta.by/rss") == ('"abc"', "Mon, 05 Jan 2026 08:00:00 GMT")
    ids = [i for _, i in store.upsert_items([item(1, first_seen=T0 - timedelta(days=400)), item(2)])]
    store.record_delivery("ann", ids, "<m@x>", at=T0)
    assert store.prune(T0 - timedelta(days=365)) == 1
    assert store.count_items() == 1 and store.last_item_seen("s") == T0
    store.close()


def test_concurrent_writers_store_each_item_once(store_url):
    """Two stores (as two workers) writing the same items: one row each."""
    import threading

    stores = [Store(store_url), Store(store_url)]
    batch = [item(n) for n in range(200)]

    def write(s):
        for i in range(0, len(batch), 20):
            s.upsert_items(batch[i:i + 20])

    threads = [threading.Thread(target=write, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stores[0].count_items() == 200
    for s in stores:
        s.close()
