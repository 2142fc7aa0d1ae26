"""One pass over a field finds every term of every topic.

Every term is indexed by one *anchor* word — its rarest-looking word (the longest), so a
phrase like "в Минске" is looked for by "Минске", not by "в" — and every form of that word
(or its ``word*`` prefix) is a key of one Aho–Corasick automaton (pyahocorasick), run over
the folded text at C speed. Acronyms (SCO, ШОС, US) are keys of a second automaton run over
the original text, so only capitals are found. A key found at a word start is a candidate,
confirmed by its word boundaries and, for phrases, by the words around it. ``re:`` terms run
on RE2 beside them. The cost per item is the automaton passes plus a little work per
candidate, whatever the number of terms.

Longest match wins: ``covering`` tells, for a hit inside a longer hit of another term, which
terms cover it; a topic that uses one of them does not count the shorter hit on its own
("cooperation" inside "Shanghai Cooperation Organization", "Minsk" inside "Minsk Group").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Optional

import ahocorasick_rs

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
    clause: int = 0    # the clause of the field it stands in (set by the matcher)


def _is_upper(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters)


def _key_length(w: WordPattern) -> int:
    if w.forms is None:
        return len(w.prefix or "")
    return min((len(f) for f in w.forms), default=0)


_FUNCTION = frozenset({"in", "at", "on", "of", "the", "a", "an", "and", "or", "to", "for", "s", "в", "во", "у", "с",
                       "со", "на", "и", "і", "з", "ли", "о", "об"})


def _anchor(term: Term) -> int:
    """The word a term is looked up by: the longest that is not a function word (a rare
    word is a cheap key)."""
    def rank(k: int) -> tuple[bool, bool, int, int]:
        w = term.words[k]
        common = w.forms is not None and bool(w.forms & _FUNCTION)
        return (not w.acronym, not common, _key_length(w), k)

    return max(range(len(term.words)), key=rank)


class _Keys:
    """The keys of one automaton and what each stands for.

    The automaton (ahocorasick_rs) reports, left to right and without overlaps, the
    longest key at each place; keys are word characters only, so a key found inside a word
    never hides one at the start of the next, and the shorter keys that start at the same
    place (its prefixes: "belarus" in "belarusian") come with it: ``values[i]`` holds the
    groups of key ``i`` and of every key that is a prefix of it, shortest first.
    """

    def __init__(self, groups: dict[str, tuple[Any, ...]]):
        self.keys = list(groups)
        self.values = []
        for key in self.keys:
            chain = [groups[key[:n]] for n in range(1, len(key)) if key[:n] in groups]
            self.values.append(tuple(chain + [groups[key]]))
        self._ac = self._build(self.keys)

    @staticmethod
    def _build(keys: list[str]) -> Any:
        # A contiguous NFA, not a DFA: with the shipped topics' ~25,000 keys the DFA took
        # 28 MB more (a quarter of a cycle's peak memory) for 7 % more matching speed
        # (bench/matching.py: 37.4 vs 34.9 MB/s)
        return ahocorasick_rs.AhoCorasick(keys, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest,
                                          implementation=ahocorasick_rs.Implementation.ContiguousNFA)

    # kept in the matcher's cache file without the automaton (a Rust object that cannot be
    # pickled), which is rebuilt from the keys when read back
    def __getstate__(self) -> dict[str, Any]:
        return {"keys": self.keys, "values": self.values}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.keys, self.values = state["keys"], state["values"]
        self._ac = self._build(self.keys)

    def find(self, text: str) -> list[tuple[int, int, int]]:
        """(key number, start, end) of the keys found, in character offsets."""
        return self._ac.find_matches_as_indexes(text)


class Scanner:
    """Finds the terms of ``terms`` (only those numbered in ``only``, when given); a hit
    names its term by its index in ``terms``."""

    def __init__(self, terms: Sequence[Term], only: Optional[Iterable[int]] = None):
        self.terms = list(terms)
        self.regex_terms: list[int] = []
        lower: dict[str, list[tuple[int, int, bool]]] = {}
        wanted = range(len(self.terms)) if only is None else sorted(set(only))
        for idx in wanted:
            term = self.terms[idx]
            if term.regex is not None:
                self.regex_terms.append(idx)
                continue
            k = _anchor(term)
            word = term.words[k]
            # acronyms are looked for in lower case too; their capitals are checked on the
            # original text when found (``_candidate``)
            if word.forms is None:
                assert word.prefix is not None
                lower.setdefault(word.prefix, []).append((idx, k, True))
            else:
                for form in word.forms:
                    lower.setdefault(form, []).append((idx, k, False))
        self.lower = self._automaton(lower)

    # kept without the term table, which is the rulebook's (``attach`` gives it back), and
    # without the per-masks table (made again on first use)
    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("terms", "_bits_cache")}

    def attach(self, terms: Sequence[Term]) -> None:
        self.terms = list(terms)

    def _automaton(self, keys: dict[str, list[tuple[int, int, bool]]]) -> Optional[_Keys]:
        if not keys:
            return None
        groups: dict[str, tuple[Any, ...]] = {}
        for key, entries in keys.items():
            # Single exact words (most terms) are confirmed by their boundaries alone. A
            # phrase whose anchor is followed (or preceded) by an exact word is filed under
            # that word's forms, so a key found costs one dictionary lookup of the next (or
            # previous) word, however many phrases share the key ("Minsk Group", "in
            # Minsk", "Minsk-2"...). Prefixes, acronyms and the rest take the careful path.
            simple: list[int] = []
            slow: list[tuple[int, int, bool]] = []
            after: dict[str, list[tuple[int, int, bool]]] = {}
            before: dict[str, list[tuple[int, int, bool]]] = {}
            for e in entries:
                idx, k, is_prefix = e
                words = self.terms[idx].words
                if is_prefix or words[k].acronym or words[k].capital:
                    slow.append(e)
                elif len(words) == 1:
                    simple.append(idx)
                elif k + 1 < len(words) and words[k + 1].forms and not words[k + 1].acronym:
                    for form in words[k + 1].forms or ():
                        after.setdefault(form, []).append(e)
                elif k > 0 and words[k - 1].forms and not words[k - 1].acronym:
                    for form in words[k - 1].forms or ():
                        before.setdefault(form, []).append(e)
                else:
                    slow.append(e)
            groups[key] = (len(key), tuple(simple), tuple(slow),
                           {f: tuple(es) for f, es in after.items()} or None,
                           {f: tuple(es) for f, es in before.items()} or None)
        return _Keys(groups)

    def presence(self, text: str, folded: Folded, masks: Mapping[int, int], enough: Sequence[int]) -> int:
        """The OR of ``masks`` (term → bits) over the terms found in ``text`` — the same
        terms ``scan`` finds, but without building hits for single words, and a phrase is
        verified only when it could add a bit not set yet, an expression only when it could
        complete one of ``enough``; stops early once all the bits of one of ``enough`` are
        set."""
        low = folded.text
        n = len(low)
        bits = last = 0
        table = self._group_bits(masks)
        if self.lower is not None:
            for pattern, start, _ in self.lower.find(low):
                if start and (low[start - 1].isalnum() or low[start - 1] == "_"):
                    continue
                for klen, b_simple, b_slow, slow, b_after, after, b_before, before in table[pattern]:
                    stop = start + klen
                    found: list[Hit] = []
                    if b_slow & ~bits:
                        self._candidate("text", text, folded, start, stop, slow, found)
                    if stop == n or not (low[stop].isalnum() or low[stop] == "_"):
                        bits |= b_simple
                        if b_after & ~bits:
                            m = _NEXT_WORD.match(low, stop)
                            es = after.get(m.group(2)) if m is not None else None
                            if es:
                                self._candidate("text", text, folded, start, stop, es, found)
                        if b_before & ~bits:
                            es = before.get(_previous_word(low, start))
                            if es:
                                self._candidate("text", text, folded, start, stop, es, found)
                    if found:
                        for h in found:
                            bits |= masks[h.term]
                if bits != last:
                    last = bits
                    for need in enough:
                        if bits & need == need:
                            return bits
        # expressions cost a pass over the text each: run them only where what they could
        # add completes one of ``enough`` (an SCO expression in a text naming no Belarus
        # would change nothing)
        if not self.regex_terms:
            return bits
        pending = _or(masks[idx] for idx in self.regex_terms) & ~bits
        if not pending or not any((bits | pending) & need == need for need in enough):
            return bits
        for idx in self.regex_terms:
            pattern_re = self.terms[idx].regex
            assert pattern_re is not None
            if masks[idx] & ~bits and any(m.end(1) > m.start(1) for m in pattern_re.finditer(text)):
                bits |= masks[idx]
        return bits

    def _group_bits(self, masks: Mapping[int, int]) -> list[list[tuple[Any, ...]]]:
        """Per key, its groups with the OR of the masks of their single words, slow
        entries, and phrases filed after and before the key (made once per ``masks``)."""
        cached = getattr(self, "_bits_cache", None)
        if cached is not None and cached[0] is masks:
            return cached[1]

        def of(entries: Iterable[tuple[int, int, bool]]) -> int:
            return _or(masks[e[0]] for e in entries)

        table = [[(klen, _or(masks[i] for i in simple), of(slow), slow,
                   _or(of(es) for es in (after or {}).values()), after,
                   _or(of(es) for es in (before or {}).values()), before)
                  for (klen, simple, slow, after, before) in chain]
                 for chain in (self.lower.values if self.lower is not None else [])]
        self._bits_cache = (masks, table)
        return table

    def scan(self, fields: Mapping[str, str], folded: Optional[Mapping[str, Folded]] = None) -> list[Hit]:
        """Every hit in the fields (``folded``: their ``fold``, when already made)."""
        hits: list[Hit] = []
        for name in FIELD_ORDER:
            text = fields.get(name)
            if text:
                f = folded.get(name) if folded is not None else None
                hits.extend(self._field(name, text, f or fold(text)))
        return hits

    def _field(self, name: str, text: str, folded: Folded) -> list[Hit]:
        low = folded.text
        n = len(low)
        out: list[Hit] = []
        append = out.append
        same = folded.offsets is None
        if self.lower is not None:
            values = self.lower.values
            for pattern, start, _ in self.lower.find(low):
                if start and (low[start - 1].isalnum() or low[start - 1] == "_"):
                    continue                                   # inside a word: the common case, cheaply
                for klen, simple, slow, after, before in values[pattern]:
                    stop = start + klen
                    if slow:
                        self._candidate(name, text, folded, start, stop, slow, out)
                    if stop < n and (low[stop].isalnum() or low[stop] == "_"):
                        continue                               # the key is the start of a longer word
                    if simple:
                        if same:
                            for idx in simple:
                                append(Hit(idx, name, start, stop))
                        else:
                            for idx in simple:
                                append(Hit(idx, name, folded.original(start), folded.original(stop - 1) + 1))
                    if after is not None:
                        m = _NEXT_WORD.match(low, stop)
                        if m is not None:
                            found = after.get(m.group(2))
                            if found:
                                self._candidate(name, text, folded, start, stop, found, out)
                    if before is not None:
                        found = before.get(_previous_word(low, start))
                        if found:
                            self._candidate(name, text, folded, start, stop, found, out)
        for idx in self.regex_terms:
            regex = self.terms[idx].regex
            assert regex is not None
            for m in regex.finditer(text):
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
        word_end = stop
        if continues:
            m = _WORD_AT.match(low, stop)
            word_end = m.end() if m is not None else stop
        for idx, k, is_prefix in entries:
            if continues and not is_prefix:
                continue
            term = self.terms[idx]
            anchor = term.words[k]
            if anchor.acronym and not _is_upper(text[folded.original(start):folded.original(stop - 1) + 1]):
                continue                                       # "sco" is not SCO
            if anchor.capital and not text[folded.original(start)].isupper():
                continue                                       # "china" is not China
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
        if wp.capital and not text[folded.original(start)].isupper():
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


def _or(values: Iterable[int]) -> int:
    out = 0
    for v in values:
        out |= v
    return out


def _previous_word(low: str, pos: int) -> str:
    """The word that ends at most six non-word characters before ``pos``."""
    end = pos - 1
    while end >= 0 and pos - end <= 6 and not low[end].isalnum():
        end -= 1
    start = end
    while start >= 0 and (low[start].isalnum() or low[start] == "_"):
        start -= 1
    return low[start + 1:end + 1]


def covering(hits: list[Hit]) -> dict[Hit, set[int]]:
    """For each hit that lies inside a longer hit of the same field, the terms of the longer
    ones. A topic drops such a hit when it uses one of those terms: "cooperation" inside
    "Shanghai Cooperation Organization", "Minsk" inside "in Minsk" where "in Minsk" is the
    topic's venue — but not where the topic does not use the longer term."""
    out: dict[Hit, set[int]] = {}
    if len(hits) < 2:
        return out
    ordered = sorted(hits, key=lambda h: (h.field, h.start, -h.end))
    reach = max(h.end - h.start for h in hits)          # no hit covers one that starts further on
    for i, h in enumerate(ordered):
        j = i - 1
        while j >= 0 and ordered[j].field == h.field and h.start - ordered[j].start <= reach:
            c = ordered[j]
            if c.end >= h.end and (c.start < h.start or c.end > h.end):
                out.setdefault(h, set()).add(c.term)
            j -= 1
    return out
