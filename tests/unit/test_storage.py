"""The store's contract, on SQLite and on PostgreSQL: identity, updates, tombstones,
delivery claims, the journal, migrations and clear errors."""

from __future__ import annotations

import multiprocessing
import os
from datetime import datetime, timedelta, timezone

import pytest

from newswatch.storage.alerts_repo import AlertsRepository, NewMatch
from newswatch.storage.crawl_repo import CrawlRepository
from newswatch.storage.engine import Database
from newswatch.storage.errors import DatabaseCorrupt, StorageError
from newswatch.storage.journal import DeliveryJournal, JournalEntry
from newswatch.storage.rows import UpsertState
from tests.helpers import record

UTC = timezone.utc
LONG = "x" * 100


@pytest.fixture
def db(db_url):
    d = Database(db_url)
    yield d
    d.close()


IDENTITY = [
    # (first, second, same item?)
    ({"url": "https://belta.by/a/", "guid": "g1"}, {"url": "https://belta.by/a-renamed/", "guid": "g1"}, True),
    ({"url": "https://belta.by/a/"}, {"url": "http://www.belta.by/a/?utm_source=x#c"}, True),
    ({"url": "https://belta.by/a/", "summary": LONG}, {"url": "https://belta.by/print/a/", "summary": LONG}, True),
    ({"url": "https://belta.by/a/", "title": "Short"}, {"url": "https://belta.by/b/", "title": "Short"}, False),
    ({"url": "https://belta.by/a/", "guid": "g1"}, {"url": "https://belta.by/b/", "guid": "g2"}, False),
    # a GUID reused for a different article (other URL, other title) is not an identity
    ({"url": "https://x.org/1", "guid": "same", "title": "One story"},
     {"url": "https://x.org/2", "guid": "same", "title": "Another story"}, False),
]


@pytest.mark.parametrize("first,second,same", IDENTITY)
def test_item_identity(db, first, second, same):
    repo = CrawlRepository(db)
    a = repo.upsert_items([record("s", **first)])[0]
    b = repo.upsert_items([record("s", **second)])[0]
    assert (a.item_id == b.item_id) is same
    assert repo.count_items() == (1 if same else 2)


def test_identity_within_one_batch(db):
    repo = CrawlRepository(db)
    out = repo.upsert_items([record("s", "https://x.org/1", "A"), record("s", "https://x.org/1", "A"),
                             record("s", "https://x.org/2", "B", guid="g"), record("s", "https://x.org/3", "C", guid="g")])
    assert [o.state for o in out] == [UpsertState.NEW, UpsertState.SAME, UpsertState.NEW, UpsertState.NEW]
    assert repo.count_items() == 3


def test_retitled_and_redated_item_is_updated_not_duplicated(db):
    repo = CrawlRepository(db)
    base = dict(url="https://belta.by/a/", guid="g")
    assert repo.upsert_items([record("s", title="Old title", **base)])[0].state is UpsertState.NEW
    assert repo.upsert_items([record("s", title="Old title", **base)])[0].state is UpsertState.SAME
    when = datetime(2025, 1, 2, tzinfo=UTC)
    out = repo.upsert_items([record("s", title="New title", published=when, **base)])[0]
    assert out.state is UpsertState.UPDATED
    item = AlertsRepository(db).get_item(out.item_id)
    assert item.title == "New title" and item.published == when and not item.published_guessed
    assert repo.count_items() == 1


def test_pruned_items_leave_tombstones(db):
    repo = CrawlRepository(db)
    old = repo.upsert_items([record("s", "https://x.org/old", "Old", summary=LONG)])[0]
    assert repo.prune(datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert repo.count_items() == 0
    again = repo.upsert_items([record("s", "https://x.org/old", "Old", summary=LONG),
                               record("s", "https://x.org/new", "New")])
    assert again[0].state is UpsertState.PRUNED and again[0].item_id is None
    assert again[1].state is UpsertState.NEW
    assert old.item_id != again[1].item_id
    assert repo.prune_tombstones(datetime.now(UTC) + timedelta(seconds=1)) >= 1
    assert repo.upsert_items([record("s", "https://x.org/old", "Old", summary=LONG)])[0].state is UpsertState.NEW


def test_text_no_column_can_hold_is_cleaned_not_lost(db):
    """A NUL or a cut emoji in a feed's text, a GUID longer than its column: each item is
    stored (PostgreSQL refused the NUL and the long GUID, every driver the lone surrogate,
    and the whole batch failed with them)."""
    repo = CrawlRepository(db)
    out = repo.upsert_items([record("s", "https://x.org/nul", "Belarus\x00 and Iran", summary="a\x00b"),
                             record("s", "https://x.org/emoji", "Cut emoji \ud83d here"),
                             record("s", "https://x.org/guid", "Long GUID", guid="g" * 600),
                             record("s", "https://x.org/ok", "Plain")])
    assert [o.state for o in out] == [UpsertState.NEW] * 4
    got = AlertsRepository(db).items_by_id([o.item_id for o in out])
    assert got[out[0].item_id].title == "Belarus and Iran" and got[out[0].item_id].summary == "ab"
    assert got[out[1].item_id].title == "Cut emoji \ufffd here"
    assert len(got[out[2].item_id].guid) == 512
    again = repo.upsert_items([record("s", "https://x.org/guid", "Long GUID", guid="g" * 600)])[0]
    assert again.state is UpsertState.SAME and again.item_id == out[2].item_id


def test_long_addresses_that_share_a_beginning_stay_apart_and_tombstones_find_them(db):
    repo = CrawlRepository(db)
    urls = [f"https://x.org/{'a' * 600}?page={i}" for i in range(3)]
    first = repo.upsert_items([record("s", u, f"Story {i}", summary=LONG + str(i)) for i, u in enumerate(urls)])
    assert [o.state for o in first] == [UpsertState.NEW] * 3 and repo.count_items() == 3
    again = repo.upsert_items([record("s", u, f"Story {i}", summary=LONG + str(i)) for i, u in enumerate(urls)])
    assert [o.item_id for o in again] == [o.item_id for o in first]
    assert AlertsRepository(db).item_by_url_key(record("s", urls[1]).url_key).id == first[1].item_id
    assert repo.prune(datetime.now(UTC) + timedelta(seconds=1)) == 3
    pruned = repo.upsert_items([record("s", urls[0], "Story 0", summary=LONG + "0")])[0]
    assert pruned.state is UpsertState.PRUNED


def _two_items(db):
    repo = CrawlRepository(db)
    ids = [o.item_id for o in repo.upsert_items([record("s", "https://x.org/1", "One"),
                                                 record("s", "https://x.org/2", "Two")])]
    AlertsRepository(db).save_matches([(i, [NewMatch("t", 1.0, {"terms": ["x"]})]) for i in ids], "v1")
    return ids


def test_claims_make_delivery_exactly_once(db):
    ids = _two_items(db)
    repo = AlertsRepository(db)
    now = datetime.now(UTC)
    assert repo.claim("ann", ids, "A", now + timedelta(minutes=5), now) == set(ids)
    assert repo.claim("ann", ids, "B", now + timedelta(minutes=5), now) == set()       # held by A
    assert repo.claim("bob", ids, "B", now + timedelta(minutes=5), now) == set(ids)    # another subscriber
    assert [k.item_id for k in repo.undelivered("ann", ["t"], now - timedelta(days=1), now)] == []
    assert repo.mark_sent("ann", "A", "<m1@x>", now) == 2
    assert repo.claim("ann", ids, "C", now + timedelta(minutes=5), now + timedelta(hours=1)) == set()   # sent
    assert repo.delivered_count("ann") == 2


def test_a_lapsed_claim_can_be_taken_over_and_a_release_frees_it(db):
    ids = _two_items(db)
    repo = AlertsRepository(db)
    now = datetime.now(UTC)
    repo.claim("ann", ids, "dead", now + timedelta(minutes=5), now)
    later = now + timedelta(minutes=6)
    assert {k.item_id for k in repo.undelivered("ann", ["t"], now - timedelta(days=1), later)} == set(ids)
    assert repo.claim("ann", ids, "alive", later + timedelta(minutes=5), later) == set(ids)
    assert repo.release("ann", "alive") == 2
    assert repo.claim("ann", ids[:1], "third", later + timedelta(minutes=5), later) == {ids[0]}


def test_journal_replay_records_deliveries(db, tmp_path):
    ids = _two_items(db)
    repo = AlertsRepository(db)
    journal = DeliveryJournal(tmp_path / "j.jsonl")
    at = datetime.now(UTC)
    journal.append(JournalEntry("ann", ids, "<m@x>", at.isoformat()))
    with open(journal.path, "a") as fh:
        fh.write('{"subscriber": "ann", "item_')          # a line cut short by a crash
    recorded = []
    assert journal.replay(lambda e: (recorded.append(e), repo.record_sent(e.subscriber, e.item_ids, e.message_id,
                                                                          e.accepted_at))) == 1
    assert repo.delivered_count("ann") == 2
    assert not journal.path.exists()
    assert journal.replay(lambda e: None) == 0


def _open(url):
    Database(url).close()


def test_two_processes_creating_a_new_database_at_once(db_url):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_open, args=(db_url,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    d = Database(db_url)
    assert CrawlRepository(d).count_items() == 0
    d.close()


def test_each_in_memory_database_has_its_own_tables():
    a, b = Database("sqlite:///:memory:"), Database("sqlite:///:memory:")
    CrawlRepository(a).upsert_items([record("s", "https://x.org/1")])
    assert CrawlRepository(a).count_items() == 1
    assert CrawlRepository(b).count_items() == 0


def test_corrupt_database_gives_one_clear_error(tmp_path):
    path = tmp_path / "bad.db"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(DatabaseCorrupt) as exc:
        Database(f"sqlite:///{path}")
    assert str(path) in str(exc.value) and "backup" in str(exc.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write read-only files")
def test_read_only_database_gives_one_clear_error(tmp_path):
    path = tmp_path / "ro.db"
    Database(f"sqlite:///{path}").close()
    os.chmod(path, 0o444)
    os.chmod(tmp_path, 0o555)
    try:
        with pytest.raises(StorageError):
            d = Database(f"sqlite:///{path}")
            CrawlRepository(d).upsert_items([record("s", "https://x.org/1")])
    finally:
        os.chmod(tmp_path, 0o755)


def test_read_only_check_does_not_create_or_write(tmp_path):
    path = tmp_path / "never.db"
    with pytest.raises(StorageError):
        Database(f"sqlite:///{path}", read_only=True)
    assert not path.exists()


def test_schema_matches_the_migrations(tmp_path):
    """The Core tables and the Alembic revisions describe the same schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from newswatch.storage.schema import metadata

    d = Database(f"sqlite:///{tmp_path}/m.db")
    with d.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    d.close()
    relevant = [x for x in diff if not (isinstance(x, tuple) and x[0] in ("remove_index", "add_index"))]
    # the full-text index (0003) is SQL only: the FTS5 table items_fts and its shadow tables
    # and where it stands (0005): fts_progress
    relevant = [x for x in relevant if not (x[0] == "remove_table" and (x[1].name.startswith("items_fts")
                                                                        or x[1].name == "fts_progress"))]
    assert relevant == [], relevant


def test_schema_head_constant_is_the_newest_migration():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from newswatch.storage import engine

    cfg = Config()
    cfg.set_main_option("script_location", str(engine._MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == engine.SCHEMA_HEAD
