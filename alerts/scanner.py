"""One pass over a field finds every term of every topic.

Every term is indexed by one *anchor* word — its rarest-looking word (the longest), so a
phrase like "в Минске" is looked for by "Минске", not by "в" — and every form of that word
(or its ``word*`` prefix) is a key of one Aho–Corasick automaton (pyahocorasick), run over
the folded text at C speed. Acronyms (SCO, ШОС, US) are keys of a second automaton run over
the original text, so only capitals are found. A key found at a word start is a candidate,
confirmed by its word boundaries and, for phrases, by the words around it. ``re:`` terms run
on RE2 beside them. The cost per item is the automaton passes plus a little work per
candidate, whatever the number of terms.

Longest match wins: a hit inside a longer hit of another term does not count on its own
("cooperation" inside "Shanghai Cooperation Organization", "Minsk" inside "Minsk Group").
"""

from __future__ import annotations

import re
from typing import Any, Mapping, NamedTuple, Optional, Sequence

import ahocorasick

from newswatch.alerts.terms import Term, WordPattern, gap_allows
from newswatch.alerts.text import Folded, fold

FIELD_ORDER = ("title", "summary", "body", "text")
_WORD_AT = re.compile(r"\w*")
_NEXT_WORD = re.compile(r"(\W{1,6})(\w+)")


class Hit(NamedTuple):
    """One occurrence of a term (a tuple: cheap to make by the thousand)."""

    term: int          # index into the rulebook's term table
    field: str
    start: int         # offsets in the field's original text
    end: int


def _is_upper(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters)


def _key_length(w: WordPattern) -> int:
    if w.forms is None:
        return len(w.prefix or "")
    return min((len(f) for f in w.forms), default=0)


_FUNCTION = frozenset({"in", "at", "on", "of", "the", "a", "an", "and", "or", "to", "for", "s", "в", "во", "у", "с",
                       "со", "на", "и", "і", "з", "ли", "ли", "о", "об"})


def _anchor(term: Term) -> int:
    """The word a term is looked up by: the longest that is not a function word (a rare
    word is a cheap key)."""
    def rank(k: int) -> tuple[bool, bool, int, int]:
        w = term.words[k]
        common = w.forms is not None and bool(w.forms & _FUNCTION)
        return (not w.acronym, not common, _key_length(w), k)

    return max(range(len(term.words)), key=rank)


class Scanner:
    def __init__(self, terms: Sequence[Term]):
        self.terms = list(terms)
        self.regex_terms: list[int] = []
        lower: dict[str, list[tuple[int, int, bool]]] = {}
        upper: dict[str, list[tuple[int, int, bool]]] = {}
        for idx, term in enumerate(self.terms):
            if term.regex is not None:
                self.regex_terms.append(idx)
                continue
            k = _anchor(term)
            word = term.words[k]
            keys = lower
            if word.acronym:
                keys = upper
            if word.forms is None:
                assert word.prefix is not None
                keys.setdefault(word.prefix.upper() if word.acronym else word.prefix, []).append((idx, k, True))
            else:
                for form in word.forms:
                    keys.setdefault(form.upper() if word.acronym else form, []).append((idx, k, False))
        self.lower = self._automaton(lower)
        self.upper = self._automaton(upper)

    def _automaton(self, keys: dict[str, list[tuple[int, int, bool]]]) -> Optional[Any]:
        if not keys:
            return None
        a = ahocorasick.Automaton()
        for key, entries in keys.items():
            # single exact words (most terms) are confirmed by their boundaries alone: the
            # fast path; phrases, prefixes and acronyms take the careful one
            simple = tuple(i for i, k, p in entries if not p and len(self.terms[i].words) == 1
                           and not self.terms[i].words[0].acronym)
            rest = tuple(e for e in entries if e[0] not in simple)
            a.add_word(key, (len(key), simple, rest))
        a.make_automaton()
        return a

    def scan(self, fields: Mapping[str, str]) -> list[Hit]:
        hits: list[Hit] = []
        for name in FIELD_ORDER:
            text = fields.get(name)
            if text:
                hits.extend(self._field(name, text))
        return longest(hits)

    def _field(self, name: str, text: str) -> list[Hit]:
        folded = fold(text)
        low = folded.text
        n = len(low)
        out: list[Hit] = []
        append = out.append
        same = folded.offsets is None
        if self.lower is not None:
            for end, (klen, simple, rest) in self.lower.iter(low):
                start = end - klen + 1
                if start and (low[start - 1].isalnum() or low[start - 1] == "_"):
                    continue                                   # inside a word: the common case, cheaply
                if simple:
                    after = end + 1
                    if after == n or not (low[after].isalnum() or low[after] == "_"):
                        if same:
                            for idx in simple:
                                append(Hit(idx, name, start, after))
                        else:
                            for idx in simple:
                                append(Hit(idx, name, folded.original(start), folded.original(end) + 1))
                if rest:
                    self._candidate(name, text, folded, start, end + 1, rest, out)
        if self.upper is not None:
            back = folded.inverse() if folded.offsets is not None else None
            for end, (klen, simple, rest) in self.upper.iter(text):
                start = end - klen + 1
                if back is not None:
                    if start not in back or end not in back:
                        continue
                    start, stop = back[start], back[end] + 1
                else:
                    stop = end + 1
                self._candidate(name, text, folded, start, stop, simple and tuple((i, 0, False) for i in simple) or rest,
                                out)
                if simple and rest:
                    self._candidate(name, text, folded, start, stop, rest, out)
        for idx in self.regex_terms:
            for m in self.terms[idx].regex.finditer(text):
                if m.end(1) > m.start(1):
                    out.append(Hit(idx, name, m.start(1), m.end(1)))
        return out

    def _candidate(self, name: str, text: str, folded: Folded, start: int, stop: int,
                   entries: tuple[tuple[int, int, bool], ...], out: list[Hit]) -> None:
        """A key found at [start, stop) of the folded text: keep the terms it confirms."""
        low = folded.text
        n = len(low)
        if start > 0 and (low[start - 1].isalnum() or low[start - 1] == "_"):
            return                                             # inside a word
        continues = stop < n and (low[stop].isalnum() or low[stop] == "_")
        word_end = _WORD_AT.match(low, stop).end() if continues else stop
        for idx, k, is_prefix in entries:
            if continues and not is_prefix:
                continue
            term = self.terms[idx]
            first, last = start, word_end
            if len(term.words) > 1:
                first = self._before(term, k, low, text, folded, start)
                last = self._after(term, k, low, text, folded, word_end) if first >= 0 else -1
                if first < 0 or last < 0:
                    continue
            out.append(Hit(idx, name, folded.original(first), folded.original(last - 1) + 1))

    @staticmethod
    def _word_ok(wp: WordPattern, word: str, text: str, folded: Folded, start: int, end: int) -> bool:
        if not wp.matches(word):
            return False
        return not wp.acronym or _is_upper(text[folded.original(start):folded.original(end - 1) + 1])

    def _after(self, term: Term, k: int, low: str, text: str, folded: Folded, pos: int) -> int:
        """The end of the words after the anchor, or -1."""
        for j in range(k + 1, len(term.words)):
            m = _NEXT_WORD.match(low, pos)
            if m is None or not gap_allows(m.group(1), term.joins[j - 1]):
                return -1
            if not self._word_ok(term.words[j], m.group(2), text, folded, m.start(2), m.end(2)):
                return -1
            pos = m.end()
        return pos

    def _before(self, term: Term, k: int, low: str, text: str, folded: Folded, pos: int) -> int:
        """The start of the words before the anchor, or -1."""
        for j in range(k - 1, -1, -1):
            gap_end = pos
            while pos > 0 and not (low[pos - 1].isalnum() or low[pos - 1] == "_") and gap_end - pos < 6:
                pos -= 1
            word_end = pos
            while pos > 0 and (low[pos - 1].isalnum() or low[pos - 1] == "_"):
                pos -= 1
            if pos == word_end or not gap_allows(low[word_end:gap_end], term.joins[j]):
                return -1
            if not self._word_ok(term.words[j], low[pos:word_end], text, folded, pos, word_end):
                return -1
        return pos


def longest(hits: list[Hit]) -> list[Hit]:
    """Drop every hit that lies inside a longer hit of the same field."""
    if len(hits) < 2:
        return hits
    by_field: dict[str, list[Hit]] = {}
    for h in hits:
        by_field.setdefault(h.field, []).append(h)
    out: list[Hit] = []
    for field_hits in by_field.values():
        spans = sorted({(h.start, h.end) for h in field_hits}, key=lambda span: (span[0], -span[1]))
        covered: set[tuple[int, int]] = set()
        reach_start, reach_end = -1, -1           # the earlier span that reaches furthest
        for s, e in spans:
            if reach_end >= e and (reach_start < s or reach_end > e):
                covered.add((s, e))
            if e > reach_end:
                reach_start, reach_end = s, e
        out.extend(h for h in field_hits if (h.start, h.end) not in covered)
    return out
