"""The matching engine: one scan of an item finds every term of every topic.

Terms are indexed by the normalised forms (and prefixes) of their first word, and each
distinct token is looked up once and cached, so the cost per token is one dictionary
lookup whatever the number of terms. Phrases are checked from their first word onward;
``re:`` terms run on RE2. Then each topic is decided from the hits.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import accumulate
from typing import Optional

from newswatch.alerts.evidence import Evidence, HitView, Snippet
from newswatch.alerts.rules import CompiledTopic, Group, Rulebook
from newswatch.alerts.terms import gap_allows
from newswatch.alerts.text import TOKEN_RE, normalize_word

_FIELD_GAP = 100_000                       # keeps `near` from spanning two fields
_SLOW_CHARS = re.compile("[\u00ad\u200b-\u200d\u2060\u0300\u0301]")
_FOLD_PAIRS = (("ё", "е"), ("\u2019", "'"), ("\u02bc", "'"), ("\u2018", "'"), ("`", "'"), ("\u00b4", "'"))
_SPLIT_RE = re.compile(f"({TOKEN_RE.pattern})")
_CACHE_LIMIT = 500_000
FIELD_ORDER = ("title", "summary", "body", "text")
MAX_HITS, MAX_CONTEXT_HITS = 100, 20        # hits kept in the evidence of one match


@dataclass(frozen=True, slots=True)
class Hit:
    term: int          # index into the rulebook's term table
    field: str
    start: int         # offsets in the field's original text
    end: int
    pos: int           # word position, fields kept far apart


@dataclass
class TopicMatch:
    topic_id: str
    score: float
    hits: list[Hit]
    evidence: Evidence


def _strip_possessive(tok: str) -> str:
    if tok.endswith("'s"):
        return tok[:-2]
    if tok.endswith("'"):
        return tok[:-1]
    return tok


def _fast_fold(text: str) -> Optional[str]:
    """Whole-text normalisation when it keeps every offset; None means go word by word."""
    if _SLOW_CHARS.search(text) or not unicodedata.is_normalized("NFKC", text):
        return None
    folded = text.casefold()
    if len(folded) != len(text):
        return None
    for old, new in _FOLD_PAIRS:      # str.replace beats str.translate on non-ASCII text
        if old in folded:
            folded = folded.replace(old, new)
    return folded


def _is_upper(word: str) -> bool:
    letters = [c for c in word.split("'")[0].split("\u2019")[0] if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters)


class Matcher:
    def __init__(self, rulebook: Rulebook):
        self.rulebook = rulebook
        self.terms = rulebook.terms
        self._exact: dict[str, list[int]] = {}
        self._prefix: dict[str, list[int]] = {}
        self._regex: list[int] = []
        for idx, term in enumerate(self.terms):
            if term.regex is not None:
                self._regex.append(idx)
                continue
            first = term.words[0]
            if first.forms is not None:
                for form in first.forms:
                    self._exact.setdefault(form, []).append(idx)
            else:
                self._prefix.setdefault(first.prefix, []).append(idx)
        self._prefix_lengths = sorted({len(p) for p in self._prefix})
        # term → topics that can match because of it (its all/any groups), so an item is
        # decided only for the topics its hits touch
        self._term_topics: dict[int, set[int]] = {}
        # per topic: term → indices of the topic's groups that hold it
        self._term_groups: list[dict[int, list[int]]] = []
        for ti, ct in enumerate(rulebook.topics):
            groups_of: dict[int, list[int]] = {}
            for gi, g in enumerate(ct.groups):
                for t in g.terms:
                    groups_of.setdefault(t, []).append(gi)
                    if g.role in ("all", "any"):
                        self._term_topics.setdefault(t, set()).add(ti)
            self._term_groups.append(groups_of)
        self._cache: dict[str, tuple[int, ...]] = {}

    # ---- scanning ----------------------------------------------------------------------
    def _candidates(self, raw: str) -> tuple[int, ...]:
        norm = _strip_possessive(raw)
        found = list(self._exact.get(norm, ()))
        for length in self._prefix_lengths:
            if length > len(norm):
                break
            found.extend(self._prefix.get(norm[:length], ()))
        result = tuple(found)
        if len(self._cache) > _CACHE_LIMIT:
            self._cache.clear()
        self._cache[raw] = result
        return result

    def _tokens(self, text: str) -> tuple[list[str], Optional[list[int]], Optional[list[int]], Optional[list[str]]]:
        """Normalised tokens of a field, with their offsets, or the parts to compute them.

        The fast path splits the whole folded text once (C speed) and works the offsets
        out only if a term fires; the slow path normalises word by word.
        """
        folded = _fast_fold(text)
        if folded is not None:
            parts = _SPLIT_RE.split(folded)
            return parts[1::2], None, None, parts
        norms, starts, ends = [], [], []
        for m in TOKEN_RE.finditer(text):
            norm = normalize_word(m.group())
            if norm:
                # keep the possessive for _strip_possessive, as the fast path does
                norms.append(norm + ("'s" if m.group().lower().endswith(("'s", "’s")) else ""))
                starts.append(m.start())
                ends.append(m.end())
        return norms, starts, ends, None

    def scan(self, fields: Mapping[str, str]) -> list[Hit]:
        hits: list[Hit] = []
        base = 0
        terms = self.terms
        cache = self._cache
        for name in FIELD_ORDER:
            text = fields.get(name)
            if not text:
                continue
            norms, starts, ends, parts = self._tokens(text)
            n_tokens = len(norms)
            for i, tok in enumerate(norms):
                cands = cache.get(tok)
                if cands is None:
                    cands = self._candidates(tok)
                if not cands:
                    continue
                if starts is None:
                    acc = list(accumulate(map(len, parts)))
                    starts, ends = acc[0::2][:n_tokens], acc[1::2]
                for idx in cands:
                    term = terms[idx]
                    words = term.words
                    if i + len(words) > n_tokens:
                        continue
                    for k, wp in enumerate(words):
                        j = i + k
                        upper = wp.acronym and _is_upper(text[starts[j]:ends[j]])
                        if not wp.matches(_strip_possessive(norms[j]), upper):
                            break
                        if k and not gap_allows(text[ends[j - 1]:starts[j]], term.joins[k - 1]):
                            break
                    else:
                        hits.append(Hit(idx, name, starts[i], ends[i + len(words) - 1], base + i))
            if self._regex:
                if starts is None:
                    acc = list(accumulate(map(len, parts)))
                    starts = acc[0::2][:n_tokens]
                for idx in self._regex:
                    for m in terms[idx].regex.finditer(text):
                        s, e = m.start(1), m.end(1)
                        if e <= s:
                            continue
                        pos = bisect.bisect_right(starts, s) - 1
                        hits.append(Hit(idx, name, s, e, base + max(pos, 0)))
            base += _FIELD_GAP
        return hits

    # ---- deciding topics ---------------------------------------------------------------
    def match(self, fields: Mapping[str, str], topic_ids: Optional[Iterable[str]] = None) -> list[TopicMatch]:
        hits = self.scan(fields)
        if not hits:
            return []
        by_term: dict[int, list[Hit]] = {}
        for h in hits:
            by_term.setdefault(h.term, []).append(h)
        wanted = set(topic_ids) if topic_ids is not None else None
        touched = set()
        for t in by_term:
            touched |= self._term_topics.get(t, set())
        out = []
        for ti in sorted(touched):
            ct = self.rulebook.topics[ti]
            if wanted is not None and ct.topic.id not in wanted:
                continue
            m = self._decide(ct, self._term_groups[ti], by_term, fields)
            if m is not None:
                out.append(m)
        return out

    def _decide(self, ct: CompiledTopic, groups_of: dict[int, list[int]], by_term: dict[int, list[Hit]],
                fields: Mapping[str, str]) -> Optional[TopicMatch]:
        topic = ct.topic
        allowed = set(topic.fields) | {"text"}
        # bucket the item's hits by the topic's groups: one pass over the terms that fired
        buckets: list[list[Hit]] = [[] for _ in ct.groups]
        for t, hs in by_term.items():
            for gi in groups_of.get(t, ()):
                buckets[gi].extend(hs)
        masks = [h for gi, g in enumerate(ct.groups) if g.role == "ignore" for h in buckets[gi]]
        kept = {}
        for gi, g in enumerate(ct.groups):
            hs = [h for h in buckets[gi] if h.field in allowed]
            if masks and g.role != "ignore":
                hs = [h for h in hs if not any(m.field == h.field and m.start <= h.start and h.end <= m.end
                                              for m in masks)]
            kept[id(g)] = hs

        def group_hits(g: Group) -> list[Hit]:
            return kept[id(g)]

        for g in ct.of_role("none"):
            if group_hits(g):
                return None
        all_groups = [(g, group_hits(g)) for g in ct.of_role("all")]
        if any(not hs for _, hs in all_groups):
            return None
        any_groups = [(g, group_hits(g)) for g in ct.of_role("any")]
        if any_groups and not any(hs for _, hs in any_groups):
            return None
        if topic.near is not None and len(all_groups) > 1:
            if _min_window([hs for _, hs in all_groups]) > topic.near:
                return None
        score = 0.0
        core: list[Hit] = []        # what the topic is about: the `all` entries (or `any` alone)
        context: list[Hit] = []     # `any` entries that only confirm an `all` match
        for role, groups in (("all", all_groups), ("any", any_groups)):
            for g, hs in groups:
                if hs:
                    # a mention in the title counts twice: it says what the item is about
                    mentions = len(hs) + sum(1 for h in hs if h.field == "title")
                    score += g.weight * min(3.0, 1.0 + 0.25 * (mentions - 1))
                    (context if role == "any" and all_groups else core).extend(hs)
        if score < topic.min_score:
            return None
        order = lambda h: (FIELD_ORDER.index(h.field), h.start, h.end)  # noqa: E731
        core = sorted(set(core), key=order)
        context = sorted(set(context) - set(core), key=order)
        return TopicMatch(topic.id, round(score, 3), core + context,
                          self._evidence(ct, score, core, context, fields))

    def _terms_of(self, hits: list[Hit]) -> list[str]:
        out = []
        for h in hits:
            t = self.terms[h.term].text
            if t not in out:
                out.append(t)
        return out

    def _evidence(self, ct: CompiledTopic, score: float, core: list[Hit], context: list[Hit],
                  fields: Mapping[str, str]) -> Evidence:
        role_of: dict[int, tuple[str, str]] = {}
        for g in ct.groups:
            for t in g.terms:
                role_of.setdefault(t, (g.label, g.role))

        def view(h: Hit) -> HitView:
            group, role = role_of.get(h.term, ("", "all"))
            return HitView(self.terms[h.term].text, group, role, h.field, h.start, h.end,
                           fields[h.field][h.start:h.end])

        shown = core[:MAX_HITS] + context[:MAX_CONTEXT_HITS]
        return Evidence(topic=ct.topic.id, score=round(score, 3), terms=tuple(self._terms_of(core + context)),
                        hits=tuple(view(h) for h in shown), snippet=make_snippet(core + context, fields),
                        rules_version=self.rulebook.version)


def _min_window(groups: list[list[Hit]]) -> int:
    """Smallest span of word positions holding at least one hit of every group."""
    events = sorted((h.pos, gi) for gi, hs in enumerate(groups) for h in hs)
    need = len(groups)
    counts = [0] * need
    covered = 0
    best = 1 << 60
    left = 0
    for pos, gi in events:
        if counts[gi] == 0:
            covered += 1
        counts[gi] += 1
        while covered == need:
            best = min(best, pos - events[left][0])
            lg = events[left][1]
            counts[lg] -= 1
            if counts[lg] == 0:
                covered -= 1
            left += 1
    return best


SNIPPET_CHARS = 280


def make_snippet(hits: list[Hit], fields: Mapping[str, str]) -> Snippet:
    """A window of text around the hits, with highlight offsets relative to the window.

    Prefers the summary or body (the title is shown anyway), and the field where most
    distinct terms fired.
    """
    def rank(name: str) -> tuple:
        distinct = len({h.term for h in hits if h.field == name})
        return (distinct, name != "title", -FIELD_ORDER.index(name))

    present = {h.field for h in hits}
    if not present:
        return Snippet(None, "")
    name = max(present, key=rank)
    text = fields[name]
    in_field = [h for h in hits if h.field == name]
    first = in_field[0].start
    start = max(0, first - 80)
    if start > 0:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < first else start
    end = min(len(text), start + SNIPPET_CHARS)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > max(in_field[0].end, start) else end
    marks = tuple((h.start - start, h.end - start) for h in in_field if h.start >= start and h.end <= end)
    return Snippet(name, text[start:end], marks, start > 0, end < len(text))
