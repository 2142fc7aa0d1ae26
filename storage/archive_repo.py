"""The archive: every stored item, searched by its words and filtered by topic, source,
language and date, newest first (for the web archive page and its CSV/JSON export).

Words are searched with the full-text index of revision 0003: FTS5 on SQLite, a GIN index
on ``to_tsvector('simple', …)`` on PostgreSQL. What an analyst types is plain words, never
query syntax: each word must occur (AND); a word ending in ``*`` is a prefix (``Минск*``
finds «Минская»); quotes, brackets, operators (AND, OR, NOT, NEAR, ``-``, ``^``, ``:``) and
other punctuation are only separators, and a word of several parts (``e-mail``) is a phrase.
A query with no letters or digits in it finds nothing.

Nothing a user types is ever parsed as query syntax, and every text reaches the database as a
bound parameter. For FTS5 each word becomes a quoted phrase of its runs of letters and digits
(so no quote can end it early). On PostgreSQL a word goes to ``phraseto_tsquery``, which
reads it with the parser that indexed the documents (so ``2.5``, ``belta.by`` or ``AND/OR``
are found as PostgreSQL stored them) and knows no operators; a prefix word goes to
``to_tsquery`` as quoted runs of letters and digits with ``:*``, again well-formed by
construction.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Optional

from sqlalchemy import and_, column, func, literal_column, or_, select, table
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, OperationalError, ProgrammingError
from sqlalchemy.sql.elements import ColumnElement

from newswatch.storage import fulltext
from newswatch.storage.alerts_repo import item_from_row
from newswatch.storage.engine import Database
from newswatch.storage.rows import (
    ArchiveItem,
    ArchiveMatch,
    ArchivePage,
    ArchiveRow,
    FeedbackRow,
    aware,
    storable_text,
    utcnow,
)
from newswatch.storage.schema import feedback, items, matches

SUMMARY_CHARS = 300
MAX_LIMIT = 1000              # rows in one page, whatever a caller asks for
MAX_TERMS = 32                # words of a query used (the rest are ignored)
MAX_TOKEN = 200               # a longer run of letters matches nothing (PostgreSQL ignores words over 2047)
_CHUNK = 500
SEARCH_WAIT = 0.25            # seconds a search waits for another writer before reading as is

# letters and digits: everything else in a word only separates tokens, as both indexes do
_TOKEN = re.compile(r"[^\W_]+")
_STRAY = re.compile("[\x00\ud800-\udfff]")

# the expression of revision 0003's index, verbatim, so that the planner uses the index
_PG_DOCUMENT: ColumnElement[Any] = literal_column(
    "to_tsvector('simple'::regconfig, coalesce(items.title, '') || ' ' || coalesce(items.summary, '') "
    "|| ' ' || coalesce(items.body, ''))")
_PG_CONFIG: ColumnElement[Any] = literal_column("'simple'::regconfig")
_FTS = table("items_fts", column("rowid"), column("items_fts"))

# the date every listing shows and sorts by: published, else first seen
_item_date = func.coalesce(items.c.published, items.c.first_seen)
_ROW_COLS = (items.c.id, items.c.source_id, items.c.url, items.c.title,
             func.substr(items.c.summary, 1, SUMMARY_CHARS + 1).label("summary"),
             items.c.language, items.c.published, items.c.first_seen)


@dataclass(frozen=True, slots=True)
class Term:
    """One word of a query: its runs of letters and digits (a phrase), maybe a prefix, and
    the word itself (without NULs or lone surrogates, which no database takes)."""

    tokens: tuple[str, ...]
    prefix: bool = False
    word: str = ""


def parse_query(q: Optional[str]) -> Optional[tuple[Term, ...]]:
    """The terms of what an analyst typed: None when there is nothing to search for (no
    text filter), an empty tuple when the text cannot match anything."""
    if q is None or not q.strip():
        return None
    terms: list[Term] = []
    for word in unicodedata.normalize("NFC", q).split():
        tokens = tuple(_TOKEN.findall(word))
        if not tokens:
            continue                            # punctuation, operators' symbols, emoji
        if any(len(t) > MAX_TOKEN for t in tokens):
            return ()
        terms.append(Term(tokens, prefix=_is_prefix(word), word=_STRAY.sub("", word)))
        if len(terms) == MAX_TERMS:
            break
    return tuple(terms)


def _is_prefix(word: str) -> bool:
    """``minsk*``, and also ``"minsk*"`` or ``(minsk*)``: a ``*`` at the end of the word,
    before any closing quotes or brackets, makes its last token a prefix."""
    return word.rstrip("\"')]}").endswith("*")


def fts5_query(terms: Sequence[Term]) -> str:
    """The FTS5 MATCH text: each word a quoted phrase, ``*`` after a prefix, joined with AND.
    Tokens are letters and digits only, so no quote can end a phrase early."""
    return " AND ".join('"' + " ".join(t.tokens) + '"' + ("*" if t.prefix else "") for t in terms)


def pg_prefix_query(term: Term) -> str:
    """The ``to_tsquery`` text of a prefix word: its quoted tokens in sequence (``<->``), the
    last with ``:*``. Tokens hold no quote, backslash or operator."""
    return " <-> ".join(f"'{tok}'" for tok in term.tokens) + ":*"


def pg_tsquery(terms: Sequence[Term]) -> ColumnElement[Any]:
    """The tsquery of all the words (``&&``): ``phraseto_tsquery`` of a plain word, the
    ``to_tsquery`` of ``pg_prefix_query`` for a prefix word; each text a bound parameter."""
    parts: list[ColumnElement[Any]] = [
        func.to_tsquery(_PG_CONFIG, pg_prefix_query(t)) if t.prefix else func.phraseto_tsquery(_PG_CONFIG, t.word)
        for t in terms]
    query = parts[0]
    for part in parts[1:]:
        query = query.op("&&")(part)
    return query


class ArchiveRepository:
    def __init__(self, db: Database):
        self.db = db

    # ---- search --------------------------------------------------------------------------
    def search(self, q: Optional[str] = None, topic: Optional[str] = None, source: Optional[str] = None,
               language: Optional[str] = None, since: Optional[datetime] = None, until: Optional[datetime] = None,
               limit: int = 50, offset: int = 0) -> ArchivePage:
        """A page of the items that contain every word of ``q`` and pass the filters, newest
        first (by publication date, else first seen), and how many there are in all.
        ``since``/``until`` bound that date: since <= date < until."""
        self._catch_up(q)
        where = self._conditions(q, topic, source, language, since, until)
        if where is None:
            return ArchivePage([], 0)
        limit = max(0, min(int(limit), MAX_LIMIT))
        offset = max(0, int(offset))
        page = (select(*_ROW_COLS).where(*where).order_by(_item_date.desc(), items.c.id.desc())
                .limit(limit).offset(offset))
        count = select(func.count()).select_from(items).where(*where)
        try:
            with self.db.engine.connect() as conn:
                total = conn.execute(count).scalar_one()
                rows = self._rows(conn, conn.execute(page).all()) if limit and total > offset else []
        except (OperationalError, ProgrammingError, DataError) as exc:
            if _is_query_error(exc):
                return ArchivePage([], 0)
            raise
        return ArchivePage(rows, total)

    def iter_export(self, q: Optional[str] = None, topic: Optional[str] = None, source: Optional[str] = None,
                    language: Optional[str] = None, since: Optional[datetime] = None,
                    until: Optional[datetime] = None, batch: int = 500) -> Iterator[ArchiveRow]:
        """Every item ``search`` would find, in its order, read ``batch`` at a time (each
        batch in its own short read, continuing after the last row of the one before)."""
        self._catch_up(q)
        where = self._conditions(q, topic, source, language, since, until)
        if where is None:
            return
        batch = max(1, int(batch))
        after: Optional[tuple[datetime, int]] = None
        while True:
            stmt = select(*_ROW_COLS).where(*where)
            if after is not None:
                when, last_id = after
                stmt = stmt.where(or_(_item_date < when, and_(_item_date == when, items.c.id < last_id)))
            stmt = stmt.order_by(_item_date.desc(), items.c.id.desc()).limit(batch)
            try:
                with self.db.engine.connect() as conn:
                    rows = self._rows(conn, conn.execute(stmt).all())
            except (OperationalError, ProgrammingError, DataError) as exc:
                if _is_query_error(exc):
                    return
                raise
            yield from rows
            if len(rows) < batch:
                return
            after = (rows[-1].when, rows[-1].id)

    def _catch_up(self, q: Optional[str]) -> None:
        """A word search first indexes what was stored since the last cycle, waiting at most
        a moment for a writer (a page must not hang behind a crawl); a listing without
        words does not use the index."""
        if parse_query(q):
            fulltext.catch_up(self.db, wait=SEARCH_WAIT)

    def _conditions(self, q: Optional[str], topic: Optional[str], source: Optional[str], language: Optional[str],
                    since: Optional[datetime], until: Optional[datetime]) -> Optional[list[ColumnElement[Any]]]:
        """The WHERE clauses of a search, or None when nothing can match (no words in ``q``,
        or a filter no stored value can equal)."""
        if not all(_storable(v) for v in (topic, source, language)):
            return None
        where: list[ColumnElement[Any]] = []
        terms = parse_query(q)
        if terms is not None:
            if not terms:
                return None
            if self.db.dialect == "postgresql":
                where.append(_PG_DOCUMENT.op("@@", is_comparison=True)(pg_tsquery(terms)))
            else:
                where.append(items.c.id.in_(select(_FTS.c.rowid).where(_FTS.c.items_fts.match(fts5_query(terms)))))
        if topic is not None:
            where.append(items.c.id.in_(select(matches.c.item_id).where(matches.c.topic_id == topic)))
        if source is not None:
            where.append(items.c.source_id == source)
        if language is not None:
            where.append(items.c.language == language)
        if since is not None:
            where.append(_item_date >= _utc(since))
        if until is not None:
            where.append(_item_date < _utc(until))
        return where

    def _rows(self, conn: Connection, found: Sequence[Any]) -> list[ArchiveRow]:
        """Rows with their topics and feedback counts (two queries per page)."""
        ids = [r.id for r in found]
        topics: dict[int, list[str]] = {}
        votes: dict[tuple[int, str], int] = {}
        for start in range(0, len(ids), _CHUNK):
            part = ids[start:start + _CHUNK]
            for item_id, topic_id in conn.execute(select(matches.c.item_id, matches.c.topic_id)
                                                  .where(matches.c.item_id.in_(part))
                                                  .order_by(matches.c.item_id, matches.c.topic_id)):
                topics.setdefault(item_id, []).append(topic_id)
            for item_id, verdict, n in conn.execute(
                    select(feedback.c.item_id, feedback.c.verdict, func.count())
                    .where(feedback.c.item_id.in_(part), feedback.c.verdict.in_(("relevant", "not_relevant")))
                    .group_by(feedback.c.item_id, feedback.c.verdict)):
                votes[(item_id, verdict)] = n
        return [ArchiveRow(id=r.id, source_id=r.source_id, url=r.url, title=r.title, summary=_cut(r.summary),
                           language=r.language, published=aware(r.published), first_seen=aware(r.first_seen),
                           topics=tuple(topics.get(r.id, ())), relevant=votes.get((r.id, "relevant"), 0),
                           not_relevant=votes.get((r.id, "not_relevant"), 0))
                for r in found]

    # ---- one item ------------------------------------------------------------------------
    def item(self, item_id: int) -> Optional[ArchiveItem]:
        """An item with all its fields, its matches and the feedback on it; None if there is
        no such item (never stored, or pruned)."""
        with self.db.engine.connect() as conn:
            r = conn.execute(select(items).where(items.c.id == item_id)).first()
            if r is None:
                return None
            found = conn.execute(select(matches).where(matches.c.item_id == item_id)
                                 .order_by(matches.c.topic_id)).all()
            verdicts = conn.execute(select(feedback).where(feedback.c.item_id == item_id)
                                    .order_by(feedback.c.created_at, feedback.c.id)).all()
        return ArchiveItem(
            item=item_from_row(r), matched_version=r.matched_version,
            matches=tuple(ArchiveMatch(topic_id=m.topic_id, score=m.score, evidence=_json(m.evidence),
                                       matched_at=aware(m.matched_at), rules_version=m.rules_version) for m in found),
            feedback=tuple(FeedbackRow(id=f.id, subscriber=f.subscriber, verdict=f.verdict,
                                       created_at=aware(f.created_at), item_id=f.item_id, topic_id=f.topic_id,
                                       url=f.url, title=f.title) for f in verdicts))

    # ---- per-day figures -----------------------------------------------------------------
    def daily_counts(self, days: int = 30, now: Optional[datetime] = None) -> dict[str, list[int]]:
        """Items first seen per source and UTC day over the last ``days`` days (today
        included), oldest first: ``days`` numbers per source. A source with no item in
        those days is absent."""
        if days <= 0:
            return {}
        today = _utc(now or utcnow()).date()
        first = today - timedelta(days=days - 1)
        start = datetime.combine(first, time(), tzinfo=timezone.utc)
        end = datetime.combine(today + timedelta(days=1), time(), tzinfo=timezone.utc)
        if self.db.dialect == "postgresql":
            day = func.to_char(func.timezone(literal_column("'UTC'"), items.c.first_seen),
                               literal_column("'YYYY-MM-DD'"))
        else:
            day = func.date(items.c.first_seen)      # stored as UTC text
        stmt = (select(items.c.source_id, day.label("day"), func.count().label("n"))
                .where(items.c.first_seen >= start, items.c.first_seen < end)
                .group_by(items.c.source_id, day))
        out: dict[str, list[int]] = {}
        with self.db.engine.connect() as conn:
            for source_id, value, n in conn.execute(stmt):
                index = (date.fromisoformat(str(value)[:10]) - first).days
                if 0 <= index < days:
                    out.setdefault(source_id, [0] * days)[index] += n
        return out


def _utc(dt: datetime) -> datetime:
    """Stored times are UTC (SQLite keeps them as text without an offset)."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _storable(value: Optional[str]) -> bool:
    """False for text no database column can hold (a NUL, a lone surrogate): PostgreSQL and
    the drivers refuse it, and no stored value could equal it."""
    return value is None or storable_text(value) == value


def _cut(summary: Optional[str]) -> str:
    if not summary:
        return ""
    if len(summary) <= SUMMARY_CHARS:
        return summary
    return summary[:SUMMARY_CHARS].rstrip() + "…"


def _is_query_error(exc: BaseException) -> bool:
    """A search text the database refused to parse (not possible with the texts built here;
    kept so a user's query can never surface as an error)."""
    low = str(getattr(exc, "orig", exc)).lower()
    return "fts5" in low or "tsquery" in low or ("match" in low and "syntax" in low)


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    import json

    return json.loads(value)


__all__ = ["ArchiveRepository", "Term", "parse_query", "fts5_query", "pg_prefix_query", "pg_tsquery"]
