"""The archive on SQLite and PostgreSQL: words in English, Russian and Belarusian, prefixes,
filters, hostile queries, the full-text index kept in step with the items, per-day counts
and the streamed export."""

from __future__ import annotations

import types
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select, text

from newswatch.storage.alerts_repo import AlertsRepository, NewMatch
from newswatch.storage.archive_repo import ArchiveRepository, fts5_query, parse_query, pg_prefix_query
from newswatch.storage.crawl_repo import CrawlRepository
from newswatch.storage.engine import Database
from newswatch.storage.rows import ArchivePage, UpsertState
from newswatch.storage.schema import items
from tests.helpers import record

UTC = timezone.utc
T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)

# key: (source, title, summary, body, language, published = T0 + days, topics)
CORPUS = {
    "en-minsk": ("belta", "Minsk hosts a logistics forum", "Delegations from ten countries came to the capital.",
                 "", "en", 0, ("economy",)),
    "ru-minsk": ("belta", "Минск принял делегации", "Форум прошёл в столице.", "", "ru", 1, ("politics",)),
    "ru-oblast": ("nn", "Минская область собрала урожай", "", "Зерновые убраны.", "ru", 2, ("economy",)),
    "be-minsk": ("nn", "Мінск адкрыў выставу", "Выстава працуе да канца месяца.", "", "be", 3, ()),
    "en-quotes": ("tut", 'He said "no" (again): AND/OR NEAR the end', "", "C++ and e-mail; 50% off", "en", 4, ()),
    "en-weather": ("tut", "Weather report", "", "Rain in Brest (2.5 mm), sun in Grodno; see belta.by.", "en", 5, ("weather",)),
}
NEWEST_FIRST = ["en-weather", "en-quotes", "be-minsk", "ru-oblast", "ru-minsk", "en-minsk"]


def url_of(key: str) -> str:
    return f"https://{CORPUS[key][0]}.example/{key}"


@pytest.fixture
def db(db_url):
    d = Database(db_url)
    yield d
    d.close()


@pytest.fixture
def seeded(db):
    """The corpus stored through the repositories, with its matches: (repo, key → item id)."""
    return seed(db)


def seed(db):
    out = CrawlRepository(db).upsert_items([
        record(src, url_of(key), title, summary=summary, body=body, language=lang, published=T0 + timedelta(days=d))
        for key, (src, title, summary, body, lang, d, _) in CORPUS.items()])
    ids = {key: o.item_id for key, o in zip(CORPUS, out)}
    AlertsRepository(db).save_matches([(ids[key], [NewMatch(t, 1.0, {"terms": [t]}) for t in spec[6]])
                                       for key, spec in CORPUS.items()], "v1")
    return ArchiveRepository(db), ids


def keys(page_or_rows, ids) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    rows = page_or_rows.rows if isinstance(page_or_rows, ArchivePage) else page_or_rows
    return [by_id[r.id] for r in rows]


def fts_consistent(db) -> None:
    """SQLite: the FTS5 index agrees with the items table (raises if not)."""
    if db.dialect == "sqlite":
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO items_fts(items_fts, rank) VALUES ('integrity-check', 1)"))


SEARCHES = [
    # (search arguments, expected items newest first)
    ({}, NEWEST_FIRST),
    ({"q": "minsk"}, ["en-minsk"]),
    ({"q": "MINSK"}, ["en-minsk"]),
    ({"q": "Минск"}, ["ru-minsk"]),                       # Russian
    ({"q": "минск"}, ["ru-minsk"]),
    ({"q": "МИНСК"}, ["ru-minsk"]),
    ({"q": "Мінск"}, ["be-minsk"]),                       # Belarusian: і is its own letter
    ({"q": "мінск"}, ["be-minsk"]),
    ({"q": "Минск*"}, ["ru-oblast", "ru-minsk"]),         # prefix: Минская, Минск
    ({"q": "мін*"}, ["be-minsk"]),
    ({"q": "logist*"}, ["en-minsk"]),
    ({"q": "minsk forum"}, ["en-minsk"]),                 # every word
    ({"q": "  minsk   FORUM  "}, ["en-minsk"]),
    ({"q": "minsk weather"}, []),
    ({"q": "прошёл"}, ["ru-minsk"]),                      # summary
    ({"q": "Brest"}, ["en-weather"]),                     # body
    ({"q": "зерновые урожай"}, ["ru-oblast"]),           # title and body
    ({"q": "e-mail"}, ["en-quotes"]),
    ({"q": "2.5"}, ["en-weather"]),                       # PostgreSQL keeps "2.5" and "belta.by" whole
    ({"q": "belta.by"}, ["en-weather"]),
    ({"q": "   "}, NEWEST_FIRST),                         # blank: no text filter
    ({"topic": "economy"}, ["ru-oblast", "en-minsk"]),
    ({"topic": "economy", "q": "урожай"}, ["ru-oblast"]),
    ({"topic": "nope"}, []),
    ({"source": "nn"}, ["be-minsk", "ru-oblast"]),
    ({"source": "belta", "q": "minsk*"}, ["en-minsk"]),
    ({"language": "ru"}, ["ru-oblast", "ru-minsk"]),
    ({"language": "be", "q": "Минск"}, []),
    ({"since": T0 + timedelta(days=2)}, ["en-weather", "en-quotes", "be-minsk", "ru-oblast"]),
    ({"until": T0 + timedelta(days=2)}, ["ru-minsk", "en-minsk"]),
    ({"since": T0 + timedelta(days=1), "until": T0 + timedelta(days=3)}, ["ru-oblast", "ru-minsk"]),
    # an aware time in another zone is the same instant: 15:00+03:00 is T0 + 2 days
    ({"since": datetime(2025, 3, 3, 15, tzinfo=timezone(timedelta(hours=3)))},
     ["en-weather", "en-quotes", "be-minsk", "ru-oblast"]),
    ({"since": datetime(2025, 3, 3, 12)}, ["en-weather", "en-quotes", "be-minsk", "ru-oblast"]),   # naive: UTC
    ({"q": "Минск*", "source": "nn", "language": "ru", "topic": "economy", "since": T0, "until": T0 + timedelta(days=9)},
     ["ru-oblast"]),
]


def test_search(seeded):
    """Each row of SEARCHES: the page, its total and the export (one database for the table)."""
    repo, ids = seeded
    wrong = []
    for args, expected in SEARCHES:
        page = repo.search(**args)
        got = (keys(page, ids), page.total, keys(repo.iter_export(**args), ids))
        if got != (expected, len(expected), expected):
            wrong.append((args, expected, got))
    assert wrong == [], "\n".join(map(repr, wrong))


HOSTILE = [
    # (query, expected items; None: anything, as long as it does not raise)
    ('"', []), ('""', []), ('"minsk', ["en-minsk"]), ('minsk"', ["en-minsk"]), ('"minsk forum', ["en-minsk"]),
    ('(minsk)', ["en-minsk"]), ('(minsk OR weather)', []), ('minsk AND forum', []), ('NEAR(minsk forum)', []),
    ('minsk NEAR/2 forum', []), ('AND', ["en-quotes"]), ('OR', None),     # PostgreSQL's parser keeps "AND/OR" whole
    ('NEAR', ["en-quotes"]), ('NOT', []),
    ('AND/OR', ["en-quotes"]), ('*', []), ('**', []), ('minsk*', ["en-minsk"]), ('"minsk*"', ["en-minsk"]),
    ('*minsk', ["en-minsk"]), ('min*sk', []), ('-', []), ('--', []), ('-minsk', ["en-minsk"]),
    ('minsk -forum', ["en-minsk"]), ('^minsk', ["en-minsk"]), ('title:minsk', []), ('{title body}: minsk', []),
    ("'; DROP TABLE items; --", []), ("1=1 OR 'a'='a'", []), ("minsk' OR '1'='1", []), ('\\', []), ('\\"', []),
    ('%', []), ('_', []), ('%minsk%', ["en-minsk"]), ('minsk_hosts', ["en-minsk"]), ('minsk_forum', []), ("\x00", []),
    ("minsk\x00", ["en-minsk"]), ("\ud800minsk", ["en-minsk"]), ("😀", []), (":*", []), ("minsk:*", ["en-minsk"]),
    ("!minsk", ["en-minsk"]), ("minsk & forum | x", []), ("<->", []), ("'minsk' <-> 'forum'", ["en-minsk"]),
    ("a" * 5000, []), (" ".join(["minsk"] * 100), ["en-minsk"]), ("C++", ["en-quotes"]), ("50%", ["en-quotes"]),
    ("e-mail*", ["en-quotes"]), ("e'mail", None), ("Минск)*", ["ru-oblast", "ru-minsk"]),
    ("\u0301", []), ("й\u0306", None), ("SELECT * FROM items_fts", []), ("items_fts MATCH 'minsk'", []),
]


def test_hostile_queries_find_words_or_nothing_and_never_raise(seeded):
    """Each row of HOSTILE: no exception, the words found (or nothing), the export agrees."""
    repo, ids = seeded
    wrong = []
    for q, expected in HOSTILE:
        try:
            page = repo.search(q)
            exported = keys(repo.iter_export(q), ids)
        except Exception as exc:
            wrong.append((q, expected, repr(exc)))
            continue
        found = keys(page, ids)
        if expected is not None and (found, page.total) != (expected, len(expected)) or exported != found:
            wrong.append((q, expected, found, page.total, exported))
    assert wrong == [], "\n".join(map(repr, wrong))
    assert repo.search().total == len(CORPUS)                  # the table is still there
    fts_consistent(repo.db)


@pytest.mark.parametrize("args", [{"source": "x\x00"}, {"topic": "\x00"}, {"language": "\ud800"},
                                  {"source": "'; DROP TABLE items; --"}, {"source": "%"}, {"topic": "*"}])
def test_hostile_filters_find_nothing(seeded, args):
    repo, _ = seeded
    assert repo.search(**args) == ArchivePage([], 0)
    assert list(repo.iter_export(**args)) == []


@pytest.mark.parametrize("q,fts5,pg_prefixes", [
    ("Минск*", '"Минск"*', ["'Минск':*"]),
    ('e-mail "x', '"e mail" AND "x"', []),
    ("(a OR b)*", '"a" AND "OR" AND "b"*', ["'b':*"]),
    ("it's", '"it s"', []),
    ("'e''mail':* \\x*", '"e mail"* AND "x"*', ["'e' <-> 'mail':*", "'x':*"]),
])
def test_query_texts_are_built_from_letters_and_digits_only(q, fts5, pg_prefixes):
    terms = parse_query(q)
    assert fts5_query(terms) == fts5
    assert [pg_prefix_query(t) for t in terms if t.prefix] == pg_prefixes


def test_no_words_is_no_filter_and_no_letters_is_no_match():
    assert parse_query(None) is None and parse_query(" \t") is None
    assert parse_query('" ( ) * -') == ()
    assert parse_query("x" * 201) == ()
    assert len(parse_query(" ".join(f"w{i}" for i in range(100)))) == 32


def test_pages_limit_offset_and_rows(seeded, db):
    repo, ids = seeded
    page = repo.search(limit=2, offset=1)
    assert keys(page, ids) == NEWEST_FIRST[1:3] and page.total == len(CORPUS)
    assert repo.search(limit=2, offset=100) == ArchivePage([], len(CORPUS))
    assert repo.search(limit=0).rows == [] and repo.search(limit=0).total == len(CORPUS)
    assert keys(repo.search(limit=-5, offset=-5), ids) == []
    row = repo.search("minsk").rows[0]
    assert (row.source_id, row.url, row.title, row.language) == ("belta", url_of("en-minsk"),
                                                                  "Minsk hosts a logistics forum", "en")
    assert row.published == T0 and row.published.tzinfo is not None and row.first_seen.tzinfo is not None
    assert row.when == T0 and row.topics == ("economy",) and (row.relevant, row.not_relevant) == (0, 0)


def test_rows_carry_topics_feedback_counts_and_a_short_summary(seeded, db):
    repo, ids = seeded
    alerts = AlertsRepository(db)
    alerts.save_matches([(ids["en-minsk"], [NewMatch("economy", 1.0, {"terms": ["forum"]}),
                                            NewMatch("belarus", 0.5, {"terms": ["Minsk"]})])], "v2")
    at = datetime.now(UTC)
    for n, verdict in enumerate(["relevant", "relevant", "not_relevant", "missed"]):
        alerts.add_feedback(f"link{n}", "ann", verdict, at, item_id=ids["en-minsk"], topic_id="economy")
    long = "Длинное описание события. " * 40
    CrawlRepository(db).upsert_items([record("belta", url_of("en-minsk"), "Minsk hosts a logistics forum",
                                             summary=long, published=T0)])
    row = repo.search("minsk").rows[0]
    assert row.topics == ("belarus", "economy")
    assert (row.relevant, row.not_relevant) == (2, 1)
    assert row.summary.endswith("…") and len(row.summary) <= 301 and long.startswith(row.summary[:-1])
    assert repo.search("описание").total == 1                 # the new summary is indexed


def test_item_has_every_field_its_matches_and_feedback(seeded, db):
    repo, ids = seeded
    item_id = ids["ru-oblast"]
    AlertsRepository(db).add_feedback("l1", "ann", "relevant", datetime.now(UTC), item_id=item_id, topic_id="economy")
    got = repo.item(item_id)
    assert got.item.id == item_id and got.item.title == "Минская область собрала урожай"
    assert got.item.body == "Зерновые убраны." and got.item.language == "ru" and got.item.source_id == "nn"
    assert got.item.published == T0 + timedelta(days=2) and not got.item.published_guessed
    assert got.matched_version == "v1"
    assert [(m.topic_id, m.evidence, m.rules_version) for m in got.matches] == [("economy", {"terms": ["economy"]},
                                                                                 "v1")]
    assert got.matches[0].matched_at.tzinfo is not None
    assert [(f.subscriber, f.verdict, f.topic_id) for f in got.feedback] == [("ann", "relevant", "economy")]
    assert repo.item(ids["be-minsk"]).matches == () and repo.item(ids["be-minsk"]).feedback == ()
    assert repo.item(10_000) is None


def test_items_stored_after_the_migration_are_indexed_and_follow_their_updates(seeded, db):
    repo, ids = seeded
    crawl = CrawlRepository(db)
    assert repo.search("Гродно").total == 0
    new = crawl.upsert_items([record("tut", "https://tut.example/grodno", "Гродно встречает гостей", language="ru",
                                     published=T0 + timedelta(days=6))])[0]
    assert keys(repo.search("гродно"), {**ids, "new": new.item_id}) == ["new"]
    again = crawl.upsert_items([record("tut", "https://tut.example/grodno", "Брест встречает гостей", language="ru",
                                       published=T0 + timedelta(days=6))])[0]
    assert again.state is UpsertState.UPDATED and again.item_id == new.item_id
    assert repo.search("гродно").total == 0 and repo.search("брест").total == 1
    AlertsRepository(db).save_matches([(new.item_id, [NewMatch("belarus", 1.0, {})])], "v9")    # no text change
    assert repo.search("брест", topic="belarus").total == 1
    fts_consistent(db)


def test_deleted_items_disappear_from_the_search(seeded, db):
    repo, ids = seeded
    crawl = CrawlRepository(db)
    old = replace(record("tut", "https://tut.example/old", "Вицебск архив", language="ru"),
                  first_seen=datetime(2020, 1, 1, tzinfo=UTC))
    crawl.upsert_items([old])
    assert repo.search("вицебск").total == 1
    assert crawl.prune(datetime(2021, 1, 1, tzinfo=UTC)) == 1
    assert repo.search("вицебск") == ArchivePage([], 0)
    assert repo.search().total == len(CORPUS)
    with db.engine.begin() as conn:
        conn.execute(items.delete().where(items.c.id == ids["be-minsk"]))
    assert repo.search("мінск").total == 0 and repo.item(ids["be-minsk"]) is None
    fts_consistent(db)


def _migrate(db, revision: str, down: bool = False) -> None:
    from alembic import command
    from alembic.config import Config

    from newswatch.storage import engine

    cfg = Config()
    cfg.set_main_option("script_location", str(engine._MIGRATIONS))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _has_fulltext(db) -> bool:
    with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            return inspect(conn).has_table("items_fts")
        return "ix_items_fulltext" in {i["name"] for i in inspect(conn).get_indexes("items")}


def test_the_migration_indexes_items_stored_before_it_and_downgrades(db):
    assert _has_fulltext(db)
    _migrate(db, "0002", down=True)
    assert not _has_fulltext(db)
    CrawlRepository(db).upsert_items([record("belta", "https://belta.example/early", "Минск до миграции",
                                             language="ru")])
    _migrate(db, "head")
    assert _has_fulltext(db)
    assert [r.title for r in ArchiveRepository(db).search("миграции").rows] == ["Минск до миграции"]
    fts_consistent(db)


def test_postgresql_search_uses_the_gin_index(pg_url):
    db = Database(pg_url)
    try:
        repo, ids = seed(db)
        stmt = select(items.c.id).where(*repo._conditions("Минск* forum 2.5", None, None, None, None, None))
        sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
        with db.engine.connect() as conn:
            conn.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(conn.execute(text("EXPLAIN " + sql)).scalars())
        assert "ix_items_fulltext" in plan, plan
        assert keys(repo.search("Минск* урожай"), ids) == ["ru-oblast"]
    finally:
        db.close()


def test_daily_counts_per_source_oldest_first(db):
    now = datetime(2025, 3, 10, 12, tzinfo=UTC)
    seen = [("a", datetime(2025, 3, 10, 8)), ("a", datetime(2025, 3, 9, 23, 30)), ("a", datetime(2025, 3, 9, 0, 0)),
            ("a", datetime(2025, 3, 1, 0, 0)), ("a", datetime(2025, 2, 28, 23, 59)),     # before the window
            ("b", datetime(2025, 3, 10, 0, 0)), ("b", datetime(2025, 3, 11, 1, 0)),     # after now's day
            ("c", datetime(2025, 1, 1))]
    CrawlRepository(db).upsert_items([replace(record(src, f"https://{src}.example/{n}", f"Item {n}"),
                                              first_seen=at.replace(tzinfo=UTC)) for n, (src, at) in enumerate(seen)])
    repo = ArchiveRepository(db)
    assert repo.daily_counts(10, now=now) == {"a": [1, 0, 0, 0, 0, 0, 0, 0, 2, 1], "b": [0] * 9 + [1]}
    month = repo.daily_counts(now=now)
    assert set(month) == {"a", "b"} and all(len(v) == 30 for v in month.values())
    assert month["a"][-2:] == [2, 1] and sum(month["a"]) == 5
    assert repo.daily_counts(1, now=now) == {"a": [1], "b": [1]}
    assert repo.daily_counts(10, now=now.astimezone(timezone(timedelta(hours=-5)))) == repo.daily_counts(10, now=now)
    assert repo.daily_counts(0, now=now) == {}
    assert ArchiveRepository(db).daily_counts(30) == {}          # nothing in the real last 30 days


def test_export_streams_every_match_in_search_order(db):
    crawl = CrawlRepository(db)
    # three dates for 25 items: batches must continue correctly inside a run of equal dates
    crawl.upsert_items([record("s" + str(n % 2), f"https://x.example/{n}", f"Story {n} Минск", language="ru",
                               published=T0 + timedelta(hours=n % 3)) for n in range(25)])
    crawl.upsert_items([record("s0", "https://x.example/other", "Unrelated")])
    repo = ArchiveRepository(db)
    everything = repo.search(limit=1000).rows
    assert len(everything) == 26
    stream = repo.iter_export(batch=4)
    assert isinstance(stream, types.GeneratorType)
    assert list(stream) == everything
    found = repo.search("минск", limit=1000).rows
    assert len(found) == 25
    assert list(repo.iter_export("минск", batch=4)) == found
    assert list(repo.iter_export("минск", source="s1", batch=3)) == [r for r in found if r.source_id == "s1"]
    paged = [r for off in range(0, 26, 5) for r in repo.search(limit=5, offset=off).rows]
    assert paged == everything
    assert list(repo.iter_export('"')) == []


# ---- SQLite: the index catches up in one statement (revision 0005) ------------------------
def _indexed(db) -> set[int]:
    with db.engine.connect() as conn:
        return set(conn.execute(text("SELECT rowid FROM items_fts WHERE items_fts MATCH 'catchup'")).scalars())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_new_items_are_indexed_by_the_catch_up_and_a_search_catches_up_first(db):
    from newswatch.storage import fulltext

    repo = CrawlRepository(db)
    ids = [o.item_id for o in repo.upsert_items([record("s", f"https://x.example/{i}", f"catchup story {i}")
                                                 for i in range(3)])]
    assert _indexed(db) == set()                            # stored, not yet indexed
    # changed and pruned before the catch-up: indexed as they are then, or not at all
    repo.upsert_items([record("s", "https://x.example/0", "catchup story zero retitled")])
    with db.engine.begin() as conn:
        conn.execute(items.delete().where(items.c.id == ids[2]))
    assert fulltext.catch_up(db) == 2
    assert _indexed(db) == {ids[0], ids[1]}
    fts_consistent(db)
    assert fulltext.catch_up(db) == 0                       # nothing new
    # indexed items follow their changes through the triggers
    repo.upsert_items([record("s", "https://x.example/1", "catchup story one retitled")])
    assert [r.title for r in ArchiveRepository(db).search("retitled").rows] == [
        "catchup story one retitled", "catchup story zero retitled"]
    fts_consistent(db)
    # a search catches up before it reads
    repo.upsert_items([record("s", "https://x.example/9", "catchup latecomer")])
    assert [r.title for r in ArchiveRepository(db).search("latecomer").rows] == ["catchup latecomer"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_catch_up_that_finds_the_database_locked_waits_for_the_next(db):
    import sqlite3

    from newswatch.storage import fulltext

    CrawlRepository(db).upsert_items([record("s", "https://x.example/a", "catchup waiting")])
    slow = Database(db.url, busy_timeout=0.1)
    holder = sqlite3.connect(db.engine.url.database, timeout=0)
    holder.execute("BEGIN IMMEDIATE")                        # another writer holds the database
    try:
        assert fulltext.catch_up(slow) == 0                  # a warning, no error; nothing lost
    finally:
        holder.rollback()
        holder.close()
        slow.close()
    assert fulltext.catch_up(db) == 1
    fts_consistent(db)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_downgrading_below_the_catch_up_rebuilds_the_index_with_every_item(db):
    CrawlRepository(db).upsert_items([record("s", "https://x.example/late", "catchup before downgrade")])
    _migrate(db, "0004", down=True)
    assert len(_indexed(db)) == 1                           # rebuilt from the table
    fts_consistent(db)
    _migrate(db, "head")
    CrawlRepository(db).upsert_items([record("s", "https://x.example/later", "catchup after upgrade")])
    assert len(ArchiveRepository(db).search("catchup").rows) == 2
    fts_consistent(db)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_catch_ups_at_the_same_time_index_each_item_once(db):
    import threading

    from newswatch.storage import fulltext

    others = [Database(db.url) for _ in range(3)]
    stop = threading.Event()

    def keep_catching_up(d):
        while not stop.is_set():
            fulltext.catch_up(d)

    threads = [threading.Thread(target=keep_catching_up, args=(d,)) for d in others]
    for t in threads:
        t.start()
    try:
        repo = CrawlRepository(db)
        for batch in range(20):
            repo.upsert_items([record("s", f"https://x.example/{batch}-{i}", f"catchup race {batch} {i}")
                               for i in range(5)])
    finally:
        stop.set()
        for t in threads:
            t.join()
        for d in others:
            d.close()
    fulltext.catch_up(db)
    with db.engine.connect() as conn:
        indexed = conn.execute(text("SELECT count(*) FROM items_fts WHERE items_fts MATCH 'race'")).scalar()
    assert indexed == 100
    fts_consistent(db)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_long_catch_up_goes_in_rounds(db, monkeypatch):
    from newswatch.storage import fulltext

    monkeypatch.setattr(fulltext, "CHUNK", 3)
    CrawlRepository(db).upsert_items([record("s", f"https://x.example/r{i}", f"catchup round {i}") for i in range(10)])
    assert fulltext.catch_up(db) == 10
    assert len(_indexed(db)) == 10
    fts_consistent(db)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_search_does_not_hang_behind_another_writer(db):
    import sqlite3
    import time

    from newswatch.storage import fulltext

    repo = CrawlRepository(db)
    repo.upsert_items([record("s", "https://x.example/old", "catchup indexed")])
    fulltext.catch_up(db)
    repo.upsert_items([record("s", "https://x.example/new", "catchup waiting")])
    holder = sqlite3.connect(db.engine.url.database, timeout=0)
    holder.execute("BEGIN IMMEDIATE")                        # a crawl is writing
    try:
        started = time.monotonic()
        found = [r.title for r in ArchiveRepository(db).search("catchup").rows]
        assert time.monotonic() - started < 5                 # not the 30 s busy timeout
        assert found == ["catchup indexed"]                   # the waiting item: after the next catch-up
        listed = [r.title for r in ArchiveRepository(db).search().rows]   # no words: no index needed
        assert sorted(listed) == ["catchup indexed", "catchup waiting"]
    finally:
        holder.rollback()
        holder.close()
    assert sorted(r.title for r in ArchiveRepository(db).search("catchup").rows) == [
        "catchup indexed", "catchup waiting"]
