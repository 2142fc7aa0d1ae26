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
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Optional

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
                if is_prefix or words[k].acronym:
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
            a.add_word(key, (len(key), tuple(simple), tuple(slow),
                             {f: tuple(es) for f, es in after.items()} or None,
                             {f: tuple(es) for f, es in before.items()} or None))
        a.make_automaton()
        return a

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
            for end, (klen, simple, slow, after, before) in self.lower.iter(low):
                start = end - klen + 1
                if start and (low[start - 1].isalnum() or low[start - 1] == "_"):
                    continue                                   # inside a word: the common case, cheaply
                stop = end + 1
                if slow:
                    self._candidate(name, text, folded, start, stop, slow, out)
                if stop < n and (low[stop].isalnum() or low[stop] == "_"):
                    continue                                   # the key is the start of a longer word
                if simple:
                    if same:
                        for idx in simple:
                            append(Hit(idx, name, start, stop))
                    else:
                        for idx in simple:
                            append(Hit(idx, name, folded.original(start), folded.original(end) + 1))
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
        if self.upper is not None:
            back = folded.inverse() if folded.offsets is not None else None
            for end, (klen, simple, slow, after, before) in self.upper.iter(text):
                start = end - klen + 1
                if back is not None:
                    if start not in back or end not in back:
                        continue
                    start, stop = back[start], back[end] + 1
                else:
                    stop = end + 1
                entries = tuple((i, 0, False) for i in simple) + slow
                for table in (after, before):
                    for es in (table or {}).values():
                        entries += es
                self._candidate(name, text, folded, start, stop, tuple(dict.fromkeys(entries)), out)
        for idx in self.regex_terms:
            pattern = self.terms[idx].regex
            assert pattern is not None
            for m in pattern.finditer(text):
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


class Gate:
    """A presence test run before the scan: which required entries could an item satisfy?

    Each term given carries a bit mask (its topic entries); the gate ORs the masks of the
    anchor words (``_anchor``) found as whole words — or, for ``word*``, at a word start —
    without phrases, positions or sentences: one automaton pass with little done per key
    found. It may say yes wrongly (an anchor word without the rest of its phrase), never no
    wrongly, so an item it turns away has no topic that could match; most news items are
    turned away here.
    """

    def __init__(self, terms: Sequence[Term], masks: Mapping[int, int]):
        self.always = 0                              # bits of entries the gate cannot see (re: terms)
        lower: dict[str, list[int]] = {}             # key → [mask, needs a word end]
        upper: dict[str, list[int]] = {}
        for idx, mask in masks.items():
            term = terms[idx]
            if term.regex is not None:
                self.always |= mask
                continue
            word = term.words[_anchor(term)]
            keys = upper if word.acronym else lower
            whole = int(word.forms is not None)
            for key in ([word.prefix] if word.forms is None else word.forms):
                assert key is not None
                key = key.upper() if word.acronym else key
                entry = keys.setdefault(key, [0, 1])
                entry[0] |= mask
                entry[1] &= whole                    # a prefix term under the same key wins
        self.lower = self._automaton(lower)
        self.upper = self._automaton(upper)

    @staticmethod
    def _automaton(keys: dict[str, list[int]]) -> Optional[Any]:
        if not keys:
            return None
        a = ahocorasick.Automaton()
        for key, (mask, whole) in keys.items():
            a.add_word(key, (len(key), mask, bool(whole)))
        a.make_automaton()
        return a

    def bits(self, texts: Sequence[str], folded: Sequence[str]) -> int:
        """The OR of the masks of every anchor word in an item's fields (``folded``: each
        field's ``fold(...).text``; ``texts``: the originals, for acronyms)."""
        mask = self.always
        for automaton, fields in ((self.lower, folded), (self.upper, texts)):
            if automaton is None:
                continue
            for text in fields:
                n = len(text)
                for end, (klen, m, whole) in automaton.iter(text):
                    if m & ~mask:                    # only keys that would add a bit are checked
                        start = end - klen + 1
                        if start and (text[start - 1].isalnum() or text[start - 1] == "_"):
                            continue
                        if whole and end + 1 < n and (text[end + 1].isalnum() or text[end + 1] == "_"):
                            continue
                        mask |= m
        return mask


def _previous_word(low: str, pos: int) -> str:
    """The word that ends at most six non-word characters before ``pos``."""
    end = pos
    while end > 0 and pos - end < 6 and not (low[end - 1].isalnum() or low[end - 1] == "_"):
        end -= 1
    start = end
    while start > 0 and (low[start - 1].isalnum() or low[start - 1] == "_"):
        start -= 1
    return low[start:end]


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
