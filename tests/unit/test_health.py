"""Source health from the store, on SQLite and PostgreSQL: the cycle reads only the runs it
needs (back to each source's last success) and the last new item of each source by index,
and gives the same answer as a reading of the whole history; old runs are pruned, never a
source's latest run or latest success."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from newswatch.alerts.health import assess, load_health
from newswatch.spiders.sources import Source
from newswatch.storage.crawl_repo import CrawlRepository
from newswatch.storage.engine import Database
from newswatch.storage.rows import CrawlRun
from tests.helpers import record

UTC = timezone.utc
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

# (source, its runs oldest first: o = ok, n = not modified, f = failed)
HISTORIES = [
    ("never", ""),
    ("fine", "fffoo"),
    ("unchanged", "on"),
    ("just-failed", "oof"),
    ("failing-long", "o" + "f" * 7),
    ("always-failed", "fffff"),
    ("recovered", "offffo"),
    ("one-failure", "f"),
]


@pytest.fixture
def repo(db_url):
    db = Database(db_url)
    yield CrawlRepository(db)
    db.close()


def _fill(repo: CrawlRepository) -> list[Source]:
    sources = []
    for sid, runs in HISTORIES:
        sources.append(Source(id=sid, kind="feed", url=f"https://{sid}.example.org/rss"))
        for k, code in enumerate(runs):
            t = NOW - timedelta(hours=len(runs) - k)
            status = {"o": "ok", "n": "not_modified", "f": "failed"}[code]
            repo.record_run(CrawlRun(sid, t, t, status, error="HTTP 503" if code == "f" else None))
    return sources


@pytest.mark.parametrize("counts", [True, False])
def test_health_reads_only_what_it_needs_and_agrees_with_the_whole_history(repo, counts):
    sources = _fill(repo)
    repo.upsert_items([record("fine", "https://fine.example.org/1", "One"),
                       record("fine", "https://fine.example.org/2", "Two")])
    got = {h.source_id: h for h in load_health(repo, sources, NOW, counts=counts)}
    everything = repo.recent_runs([s.id for s in sources], 1000)
    stats = repo.source_stats([s.id for s in sources])
    for s in sources:
        want = assess(s, everything[s.id], stats.get(s.id), NOW)
        h = got[s.id]
        assert (h.state, h.consecutive_failures, h.failing_since, h.last_success, h.last_run, h.last_error) == (
            want.state, want.consecutive_failures, want.failing_since, want.last_success, want.last_run,
            want.last_error), s.id
        assert h.last_item_seen == want.last_item_seen
    assert got["failing-long"].consecutive_failures == 7 and got["failing-long"].state == "failing"
    assert got["always-failed"].last_success is None and got["always-failed"].consecutive_failures == 5
    assert got["recovered"].state == "ok" and got["never"].state == "never"
    assert got["fine"].items == (2 if counts else 0)
    assert got["fine"].last_item_seen is not None and got["unchanged"].last_item_seen is None


def test_recent_runs_are_newest_first_and_limited_per_source(repo):
    _fill(repo)
    runs = repo.recent_runs(["failing-long", "never", "fine"], 3)
    assert [r.status for r in runs["failing-long"]] == ["failed"] * 3
    assert runs["never"] == []
    assert [r.status for r in runs["fine"]] == ["ok", "ok", "failed"]
    assert all(a.finished_at > b.finished_at for a, b in zip(runs["fine"], runs["fine"][1:]))


def test_old_runs_are_pruned_but_each_sources_latest_and_latest_success_stay(repo):
    _fill(repo)
    removed = repo.prune_runs(NOW + timedelta(days=1), now=NOW)     # everything is "old"
    left = repo.recent_runs([sid for sid, _ in HISTORIES], 1000)
    assert removed == sum(len(r) for _, r in HISTORIES) - sum(len(v) for v in left.values())
    assert [r.status for r in left["failing-long"]] == ["failed", "ok"]      # latest, and the last success
    assert [r.status for r in left["fine"]] == ["ok"]
    assert [r.status for r in left["always-failed"]] == ["failed"]
    assert left["never"] == []


def test_runs_are_pruned_once_a_day(repo):
    _fill(repo)
    assert repo.prune_runs(NOW - timedelta(hours=6), now=NOW) > 0      # a failure 7 hours old
    # within the day nothing more is pruned, though runs are now older than asked
    assert repo.prune_runs(NOW + timedelta(days=1), now=NOW + timedelta(hours=23)) == 0
    assert repo.prune_runs(NOW + timedelta(days=1), now=NOW + timedelta(hours=25)) > 0
    # the runs always kept (a source's latest and latest success) do not make it run each time
    assert repo.prune_runs(NOW + timedelta(days=2), now=NOW + timedelta(hours=30)) == 0
