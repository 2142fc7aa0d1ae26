"""Deciding topics: one scan of an item (``alerts.scanner``), then each topic is decided
from where its terms stand.

For a topic with ``all`` entries and ``within: sentence`` (the default), the entries must
meet in the title or in one sentence, and an ``any`` (relation) term must stand in that
sentence or in the title; a ``pairs`` term (Belarus–Iran, Great Stone) stands for all of
them in its sentence. A sentence naming more than ``crowd_max`` other countries is a list
and pairs nothing. Evidence from the title and the lede (the first two sentences) decides
alone; a meeting deep in the body counts unless the title is about the other side without
the first (a Russia–China or Iran–China story that ends with a line on Lukashenka's
schedule): there the story's subject is elsewhere.

``explain`` says, for every topic, what decided — or which requirement failed.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Optional

from newswatch.alerts.evidence import Evidence, HitView, Snippet
from newswatch.alerts.rules import FIELDS, CompiledTopic, Group, Rulebook
from newswatch.alerts.scanner import FIELD_ORDER, Hit, Scanner, covering
from newswatch.alerts.sentences import Sentences
from newswatch.alerts.text import fold

LEDE = 2                         # sentences of the summary (and of the body) that form the lede
MAX_HITS = 30                    # hits kept in the evidence of one match (the deciding ones first)
SNIPPET_CHARS = 300
_FIELD_GAP = 100_000             # keeps `near` from spanning two fields
_JOINS = r"(?:and|or|и|или|і|ці|та|also|а также)"
# what stands between two names of an enumeration ("Russia, Belarus, Iran and the DPRK"):
# a comma or "and", at most a title of three words ("Lukashenko, President of Kyrgyzstan
# Japarov, Prime Minister Sharif and …") and entries no list knows ("Putin, Narendra Modi,
# Masoud Pezeshkian and Erdogan"), not a relative clause ("BRICS and the SCO, which
# Belarus joined")
_SEPARATOR = re.compile(r"^(?!.*\b(?:which|who|whose|that|where|котор\w*|где|які|якая|якое|якія|якой|якім|якую|дзе)\b)"
                        r"(?:\s*(?:,|,?\s*" + _JOINS + r")"
                        r"(?:\s+[^\s,;:.!?()«»\"]+){0,3}){1,4}\s*$", re.I)
_JOIN = re.compile(r",?\s*\b" + _JOINS + r"\b|,", re.I)                  # one join between entries
_NAME = re.compile(r"(?<!\w)[A-ZА-ЯЁІЎ]")                                      # a capital: a name
_IN_PASSING = re.compile(r",\s*(?:who|which|whose|where|котор\w*|где|які|якая|якое|якія|дзе)\b|\b(?:including|such as|"
                         r"among them|в том числе|среди них|у тым ліку|сярод іх)\b", re.I)
_IN_PASSING_AFTER = re.compile(r"\w*\s+(?:among them|среди них|сярод іх|included|в их числе)\b", re.I)
_AT_PLACE = re.compile(r"(?:^|\s)(?:in|at|в|во|у|ў)\s+$", re.I)   # "… met in |Beijing"
_SAME_ENTRY = re.compile(r"^\s+$")           # "Kyrgyzstan Japarov": one entry named twice

_ROLES = ("pairs", "venue", "veto", "none", "crowd", "lists", "title_veto")   # the buckets after `all` and `any`
Unit = tuple[str, int]           # (field, sentence index); ("title", 0) is the title
TITLE: Unit = ("title", 0)


@dataclass
class TopicMatch:
    topic_id: str
    score: float
    hits: list[Hit]
    evidence: Evidence


@dataclass
class Decision:
    """Why a topic matched an item, or which requirement failed."""

    topic_id: str
    matched: bool
    reason: str
    unit: Optional[Unit] = None
    deciding: list[Hit] = field(default_factory=list)
    score: float = 0.0
    where: str = "item"
    groups: Optional[_Groups] = field(default=None, repr=False, compare=False)
    fields: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def text_of(self, h: Hit) -> str:
        return self.fields[h.field][h.start:h.end]


# "MINSK, 20 August (BelTA) – …", "TEHRAN, Mar. 13 (IRNA) -- …", "ТЯНЬЦЗИНЬ, 1 сентября (БЕЛТА) – …":
# where the story was filed, not what it is about
_DATELINE = re.compile(r"^\s*[A-ZА-ЯЁІЎ][A-ZА-ЯЁІЎ'’\-. ]{1,40},[^–—\n]{0,40}?(?:\([^)\n]{1,20}\)\s*)?[–—]|"
                       r"^\s*[A-ZА-ЯЁІЎ][A-ZА-ЯЁІЎ'’\-. ]{1,40},[^\n]{0,40}?\([^)\n]{1,20}\)\s*--?|"
                       r"^\s*[A-ZА-ЯЁІЎ]{3,}[A-ZА-ЯЁІЎ'’\-. ]{0,30}\s[–—]\s")


def dateline_end(text: str) -> int:
    m = _DATELINE.match(text)
    return m.end() if m else 0


class _Item:
    """One item's fields, with sentences found on demand."""

    def __init__(self, fields: Mapping[str, str]):
        self.fields = {k: v for k, v in fields.items() if v}
        self._sentences: dict[str, Sentences] = {}
        self.dateline = {k: dateline_end(v) for k, v in self.fields.items() if k != "title"}
        self.covered: dict[Hit, set[int]] = {}     # hit → terms of longer hits around it

    def _split(self, name: str) -> Sentences:
        s = self._sentences.get(name)
        if s is None:
            s = self._sentences[name] = Sentences(self.fields[name])
        return s

    def placed(self, hits: list[Hit], joined: Optional[list[str]] = None) -> list[Hit]:
        """The hits after each field's dateline, each with its field and the clause it
        stands in. ``joined``: the hits are in these fields joined by line breaks."""
        names = joined or [n for n in FIELD_ORDER if n in self.fields]
        bases, clauses, skips, ends = [], [], [], []
        at = 0
        for name in names:
            bases.append(at if joined else 0)
            clauses.append(self._split(name).clauses)
            skips.append(self.dateline.get(name, 0))
            ends.append(len(self.fields[name]))
            at += len(self.fields[name]) + 1
        index = {name: i for i, name in enumerate(names)}
        out: list[Hit] = []
        for h in hits:
            i = bisect.bisect_right(bases, h.start) - 1 if joined else index[h.field]
            start, end = h.start - bases[i], h.end - bases[i]
            if start < skips[i] or end > ends[i]:          # in the dateline; across a break (re:)
                continue
            out.append(Hit(h.term, names[i], start, end, bisect.bisect_right(clauses[i], start) - 1))
        return out

    def unit_text(self, unit: Unit) -> tuple[str, int, int]:
        """(field text, start, end) of the sentence that holds a unit."""
        text = self.fields[unit[0]]
        split = self._split(unit[0])
        sentence = split.index(split.clauses[unit[1]])
        starts = split.starts
        end = starts[sentence + 1] if sentence + 1 < len(starts) else len(text)
        return text, starts[sentence], end

    def gap(self, a: Hit, b: Hit) -> str:
        return self.fields[a.field][a.end:b.start]

    def in_lede(self, unit: Unit) -> bool:
        if unit[0] == "title":
            return True
        split = self._split(unit[0])
        return split.index(split.clauses[unit[1]]) < LEDE

    def opens_body(self, unit: Unit) -> bool:
        """Is the unit in the first sentence of the first field after the title?"""
        first = next((n for n in FIELD_ORDER[1:] if n in self.fields), None)
        if unit[0] != first:
            return False
        split = self._split(unit[0])
        return split.index(split.clauses[unit[1]]) == 0

    def title_clauses(self) -> int:
        return len(self._split("title")) if "title" in self.fields else 0


@dataclass
class _Groups:
    """One topic's hits, sorted into its groups (after `fields` and `ignore`)."""

    all: list[list[Hit]]
    any: list[list[Hit]]
    pairs: list[Hit]
    venue: list[Hit]
    veto: list[Hit]
    none: list[Hit]
    crowd: list[Hit]
    lists: list[Hit]
    title_veto: list[Hit]
    masked: list[tuple[Hit, Hit]]     # (hit, the ignore hit that covers it)


def cached_matcher(rulebook: Rulebook) -> Matcher:
    """A Matcher of ``rulebook``, kept in the cache folder beside the compiled rulebook:
    building its automata and tables costs about 0.2 s of CPU, reading them back a third of
    that, which ``match``, ``eval`` and ``test-rule`` answer faster with. Cycles build theirs
    (``Runtime.matcher``): read back, it does not share its strings with the rulebook and
    takes some 8 MB more."""
    from newswatch.alerts import evidence, scanner, sentences, text
    from newswatch.alerts.rules import cache_path, load_cached, save_cached

    # the matcher names terms by their place in the rulebook's table: the version (a hash
    # of the settings, which sorts the term lists) is not enough, the table's order is
    # part of the name and is checked again when read back
    order = _term_order(rulebook)
    path = cache_path(f"{rulebook.version}-{order[:12]}", "matcher",
                      (sys.modules[__name__], scanner, sentences, text, evidence))
    matcher = load_cached(path, Matcher)
    if matcher is not None and getattr(matcher, "_term_order", None) == order:
        matcher.attach(rulebook)
        return matcher
    matcher = Matcher(rulebook)
    matcher._term_order = order
    save_cached(path, matcher)
    return matcher


def _term_order(rulebook: Rulebook) -> str:
    return hashlib.sha256("\x1f".join(t.text for t in rulebook.terms).encode("utf-8", "replace")).hexdigest()


class Matcher:
    _term_order: Optional[str] = None      # set by ``cached_matcher``: the table it was built on

    # kept (``cached_matcher``) without the rulebook and its term table, which the caller
    # has already: ``attach`` gives them back
    def __getstate__(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k not in ("rulebook", "terms")}

    def attach(self, rulebook: Rulebook) -> None:
        self.rulebook = rulebook
        self.terms = rulebook.terms
        for s in (self._gate_scanner, self.scanner, *self._probes.values()):
            s.attach(rulebook.terms)

    def __init__(self, rulebook: Rulebook):
        self.rulebook = rulebook
        self.terms = rulebook.terms
        # per topic: term → [(role, group position in its role)]
        self._roles: list[dict[int, list[tuple[str, int]]]] = []
        self._touch: dict[int, set[int]] = {}           # term → topics it can make match
        self._labels: list[dict[str, list[str]]] = []
        self._role_of: list[dict[int, tuple[str, str]]] = []
        for ti, ct in enumerate(rulebook.topics):
            labels: dict[str, list[str]] = {}
            for g in ct.groups:
                labels.setdefault(g.role, []).append(g.label)
            self._labels.append(labels)
            role_of: dict[int, tuple[str, str]] = {}
            for g in ct.groups:
                for t in g.terms:
                    role_of.setdefault(t, (g.label, g.role))
            self._role_of.append(role_of)
            roles: dict[int, list[tuple[str, int]]] = {}
            counters: dict[str, int] = {}
            for g in ct.groups:
                pos = counters.get(g.role, 0)
                counters[g.role] = pos + 1
                for t in g.terms:
                    if (g.role, pos) not in roles.setdefault(t, []):     # a term listed twice counts once
                        roles[t].append((g.role, pos))
                    if g.role in ("all", "any", "pairs"):
                        self._touch.setdefault(t, set()).add(ti)
            self._roles.append(roles)
        self._probes: dict[tuple[int, ...], Scanner] = {}
        self._slots = [self._topic_slots(ct) for ct in rulebook.topics]
        # the side terms that venue phrases hold ("Beijing" in "in Beijing"): places, as
        # opposed to countries' people and blocs ("in the SCO region"); filled by _venue_sides
        self._places: set[int] = set()
        self._venue_side = [self._venue_sides(ct) for ct in rulebook.topics]
        self._index = {ct.topic.id: i for i, ct in enumerate(rulebook.topics)}
        # Longest match wins across the rulebook ("cooperation" in "Shanghai Cooperation
        # Organization" is no relation for any topic), except that a venue phrase ("in
        # Minsk") covers the place name only for the topics that list it as their venue.
        used = set().union(*(set(slots) | ignore for slots, ignore, _, _ in self._slots)) if self._slots else set()
        venue_only = {t for ct in rulebook.topics for g in ct.of_role("venue") for t in g.terms}
        venue_only -= {t for ct in rulebook.topics for g in ct.groups if g.role != "venue" for t in g.terms}
        self._uses = [frozenset(used - (venue_only - {t for g in ct.of_role("venue") for t in g.terms}))
                      for ct in rulebook.topics]
        # the sides some topic watches (Belarus, Iran, China, the SCO): a title naming one
        # of them is about a watched relation, not "another country"
        self._watched = frozenset(t for ct in rulebook.topics for g in ct.of_role("all") for t in g.terms)
        # of those, the countries: the sides some venue phrase stands for ("in Minsk", "in
        # Tehran"), as opposed to a bloc (the SCO), whose own stories give members a paragraph
        alls = [ct.of_role("all") for ct in rulebook.topics]
        self._countries = frozenset(t for ti, sides in enumerate(self._venue_side) for i in set(sides.values())
                                    for t in alls[ti][i].terms)
        # The gate first: a scan for the terms of each topic's sides only; an item that
        # cannot satisfy any topic's every side stops there (most news items do), the
        # others are scanned for every term the topics use.
        self._gate_masks, self._gate_need, self._gate_pairs = self._build_gate()
        self._gate_enough = sorted(set(self._gate_need) | set(self._gate_pairs))
        self._gate_scanner = Scanner(rulebook.terms, only=self._gate_masks)
        self.scanner = Scanner(rulebook.terms, only=used)

    def _holds(self, term: int, groups: list[Group]) -> bool:
        """Does the text of ``term`` itself hold a term of every one of ``groups``?"""
        text = self.terms[term].text
        if text.startswith("re:") or not groups:
            return False
        return all(self._probe(g).scan({"text": text.lstrip("=^")}) for g in groups)

    def _probe(self, group: Group) -> Scanner:
        """A scanner of one group's terms, made once (for looking inside other terms)."""
        key = tuple(group.terms)
        found = self._probes.get(key)
        if found is None:
            found = self._probes[key] = Scanner(self.terms, only=group.terms)
        return found

    def _venue_sides(self, ct: CompiledTopic) -> dict[int, int]:
        """Which `all` entry each venue phrase stands for: the one whose term it holds
        ("in Minsk" → belarus, "in Beijing" → china); the first when none. The side terms
        found in them are kept in ``_places``."""
        alls = ct.of_role("all")
        out: dict[int, int] = {}
        for g in ct.of_role("venue"):
            for t in g.terms:
                text = self.terms[t].text
                side = 0
                for i, group in enumerate(alls):
                    found = self._probe(group).scan({"text": text})
                    if found:
                        side = i
                        self._places.update(h.term for h in found)
                        break
                out[t] = side
        return out

    @staticmethod
    def _topic_slots(ct: CompiledTopic) -> tuple[dict[int, tuple[int, ...]], frozenset[int], int, int]:
        """Where a topic files each of its terms' hits: bucket numbers — the `all` entries,
        then the `any` entries, then pairs, venue, veto, none, crowd, lists, title_veto (_ROLES) — and
        which terms are `ignore` phrases."""
        n_all, n_any = len(ct.of_role("all")), len(ct.of_role("any"))
        base = {"all": 0, "any": n_all}
        base.update({role: n_all + n_any + i for i, role in enumerate(_ROLES)})
        own = {t for g in ct.groups if g.role in ("all", "pairs") for t in g.terms}
        slots: dict[int, list[int]] = {}
        counters: dict[str, int] = {}
        ignore: set[int] = set()
        for g in ct.groups:
            pos = counters.get(g.role, 0)
            counters[g.role] = pos + 1
            for t in g.terms:
                if g.role == "ignore":
                    ignore.add(t)
                    continue
                if g.role in ("crowd", "lists") and t in own:
                    continue                               # the topic's own sides are not a crowd
                bucket = base[g.role] + (pos if g.role in ("all", "any") else 0)
                mine = slots.setdefault(t, [])
                if bucket not in mine:                     # a term listed twice counts once
                    mine.append(bucket)
        return {t: tuple(b) for t, b in slots.items()}, frozenset(ignore), n_all, n_any

    def _build_gate(self) -> tuple[dict[int, int], list[int], list[int]]:
        """The gate: one bit per required entry of every topic — each `all` entry (venue
        terms count for the first), or for an `any`-only topic its `any` entries together —
        and a bit per topic for its `pairs`, which stand for all of them. Returns each gate
        term's bits, and per topic the bits it needs and its pairs bit."""
        masks: dict[int, int] = {}
        need: list[int] = []
        pair_bits: list[int] = []
        bit = 1

        def mark(terms: Iterable[int], b: int) -> None:
            for t in terms:
                masks[t] = masks.get(t, 0) | b

        for ti, ct in enumerate(self.rulebook.topics):
            alls = ct.of_role("all")
            topic_need = 0
            if alls:
                for i, g in enumerate(alls):
                    mark(g.terms, bit)
                    mark([t for t, side in self._venue_side[ti].items() if side == i
                          and not self._holds(t, [alls[i]])], bit)
                    topic_need |= bit
                    bit <<= 1
            else:
                for g in ct.of_role("any"):
                    mark(g.terms, bit)
                topic_need = bit
                bit <<= 1
            for g in ct.of_role("pairs"):
                # a pair whose words are side terms themselves ("Belarus-Iran") sets the
                # sides' bits anyway; only the others ("Great Stone") need a look
                mark([t for t in g.terms if not self._holds(t, alls)], bit)
            pair_bits.append(bit)
            bit <<= 1
            need.append(topic_need)
        return masks, need, pair_bits

    def _passing(self, bits: int, wanted: Optional[set[str]]) -> set[int]:
        """The topics (wanted) whose every side, or a pair, has a term among ``bits``."""
        return {ti for ti, ct in enumerate(self.rulebook.topics)
                if (wanted is None or ct.topic.id in wanted)
                and ((bits & self._gate_need[ti]) == self._gate_need[ti] or bits & self._gate_pairs[ti])}

    # ---- public ------------------------------------------------------------------------
    def match(self, fields: Mapping[str, str], topic_ids: Optional[Iterable[str]] = None) -> list[TopicMatch]:
        return [self._to_match(d, item, hits) for d, item, hits in self._decisions(fields, topic_ids, True)]

    def explain(self, fields: Mapping[str, str], topic_ids: Optional[Iterable[str]] = None) -> list[Decision]:
        """A decision for every topic (or those asked), matched or not, with its reason."""
        return [d for d, _, _ in self._decisions(fields, topic_ids, only_matches=False)]

    # ---- deciding ----------------------------------------------------------------------
    def _decisions(self, fields: Mapping[str, str], topic_ids: Optional[Iterable[str]],
                   only_matches: bool) -> list[tuple[Decision, _Item, list[Hit]]]:
        wanted = set(topic_ids) if topic_ids is not None else None
        # The fields are read as one text: a phrase never spans the line breaks between
        # them, and each hit is then given back to its field.
        names = [k for k in FIELD_ORDER if fields.get(k)]
        joined = "\n".join(fields[k] for k in names)
        folded = fold(joined)
        passed: Optional[set[int]] = None
        if only_matches:
            # stops at the first topic whose every side is there: the scan below says the rest
            bits = self._gate_scanner.presence(joined, folded, self._gate_masks, self._gate_enough)
            if not self._passing(bits, wanted):
                return []
        item = _Item(fields)
        if folded.offsets is None:
            hits = item.placed(self.scanner.scan({"text": joined}, {"text": folded}), names)
        else:                   # normalisation moved characters: read field by field
            hits = item.placed(self.scanner.scan(fields, {k: fold(fields[k]) for k in names}))
        if only_matches:
            bits = 0
            for h in hits:
                bits |= self._gate_masks.get(h.term, 0)
            passed = self._passing(bits, wanted)
        item.covered = covering(hits)
        by_term: dict[int, list[Hit]] = {}
        for h in hits:
            by_term.setdefault(h.term, []).append(h)
        present = by_term.keys()
        out = []
        for ti, ct in enumerate(self.rulebook.topics):
            if wanted is not None and ct.topic.id not in wanted:
                continue
            if passed is not None and ti not in passed:
                continue
            if not only_matches and not any(ti in self._touch.get(t, ()) for t in present):
                out.append((Decision(ct.topic.id, False, "no term of the topic in the item"), item, hits))
                continue
            d = self._decide(ti, ct, by_term, item)
            if d.matched or not only_matches:
                out.append((d, item, hits))
        return out

    def _groups(self, ti: int, ct: CompiledTopic, by_term: dict[int, list[Hit]], item: _Item) -> _Groups:
        slots, ignore, n_all, n_any = self._slots[ti]
        covered = item.covered
        uses = self._uses[ti]
        fields = ct.topic.fields
        every_field = len(fields) == len(FIELDS)
        buckets: list[list[Hit]] = [[] for _ in range(n_all + n_any + len(_ROLES))]
        ignores = [h for t in ignore if t in by_term for h in by_term[t]
                   if every_field or h.field in fields or h.field == "text"]
        masked: list[tuple[Hit, Hit]] = []
        for t, hs in by_term.items():
            where = slots.get(t)
            if where is None:
                continue
            for h in hs:
                if not every_field and h.field not in fields and h.field != "text":
                    continue
                if h in covered and not covered[h].isdisjoint(uses):
                    # inside a longer term of this topic: the longer one counts, not this one
                    if ignores and not covered[h].isdisjoint(ignore):
                        masked.append((h, next(m for m in ignores if m.field == h.field and m.start <= h.start
                                               and h.end <= m.end)))
                    continue
                if ignores:
                    # the same words as an ignore phrase, or some of them ("В Китай" in «В
                    # Китай-городе»)
                    cover = next((m for m in ignores if m.field == h.field and m.start < h.end
                                  and h.start < m.end and m.term != h.term), None)
                    if cover is not None:
                        masked.append((h, cover))
                        continue
                for b in where:
                    buckets[b].append(h)
        rest = n_all + n_any
        pairs, venue, veto, none, crowd, lists, title_veto = buckets[rest:]
        return _Groups(buckets[:n_all], buckets[n_all:rest], pairs, venue, veto, none, crowd, lists, title_veto,
                       masked)

    def _label(self, ct: CompiledTopic, role: str, pos: int) -> str:
        return [g for g in ct.groups if g.role == role][pos].label

    def _decide(self, ti: int, ct: CompiledTopic, by_term: dict[int, list[Hit]], item: _Item) -> Decision:
        g = self._groups(ti, ct, by_term, item)
        d = self._decide_groups(ti, ct, g, item)
        d.groups = g
        d.fields = item.fields
        return d

    def found(self, d: Decision) -> list[tuple[str, str, list[Hit]]]:
        """What a decision saw, entry by entry: (entry label, role, its hits in text order);
        entries with no hit are left out, masked hits are listed under ``ignore``."""
        g = d.groups
        if g is None:
            return []
        ct = self.rulebook.topics[self._index[d.topic_id]]
        out: list[tuple[str, str, list[Hit]]] = []
        for role in ("all", "any"):
            for i, hs in enumerate(getattr(g, role)):
                if hs:
                    out.append((self._label(ct, role, i), role, _ordered(hs)))
        for role in _ROLES:
            hs = getattr(g, role)
            if hs:
                terms = {h.term for h in hs}
                labels = {grp.label for grp in ct.of_role(role) if terms.intersection(grp.terms)}
                out.append((", ".join(sorted(labels)), role, _ordered(hs)))
        if g.masked:
            out.append(("masked by ignore", "ignore", _ordered([h for h, _ in g.masked])))
        return out

    def term_text(self, h: Hit) -> str:
        return self.terms[h.term].text

    def _decide_groups(self, ti: int, ct: CompiledTopic, g: _Groups, item: _Item) -> Decision:
        topic = ct.topic
        tid = topic.id
        if g.none:
            h = g.none[0]
            return Decision(tid, False, f"rejected: '{self.terms[h.term].text}' ({self._text(item, h)}) is under none")
        if not g.all:                                          # an `any`-only topic: anywhere counts
            found = [h for hs in g.any for h in hs] + g.pairs
            if not found:
                return Decision(tid, False, "no term of any entry")
            return self._scored(tid, ct, g, found, None, "item", item, "an `any` term")
        venue_sides = {self._venue_side[ti].get(h.term, 0) for h in g.venue}
        missing = [i for i, hs in enumerate(g.all) if not hs and i not in venue_sides]
        if missing and not g.pairs:
            i = missing[0]
            label = self._label(ct, "all", i)
            masked = [(h, m) for h, m in g.masked if any(r == ("all", i) for r in self._roles[ti].get(h.term, ()))]
            if masked:
                h, m = masked[0]
                return Decision(tid, False, f"no '{label}' term: '{self._text(item, h)}' is inside "
                                            f"'{self._text(item, m)}', which counts for nothing (ignore)")
            return Decision(tid, False, f"no '{label}' term")
        if topic.near is not None and len(g.all) > 1 and not g.pairs:
            if _min_window([[_pos(h) for h in hs] for hs in g.all]) > topic.near:
                return Decision(tid, False, f"the {len(g.all)} entries are not within {topic.near} words")
        if topic.within == "item":
            if g.any and not any(g.any) and not g.pairs:
                return Decision(tid, False, f"no '{self._label(ct, 'any', 0)}' term (relation)")
            found = [h for hs in g.all for h in hs] + [h for hs in g.any for h in hs] + g.pairs
            return self._scored(tid, ct, g, found, None, "item", item, "every entry in the item")
        return self._decide_units(tid, ct, g, item)

    def _decide_units(self, tid: str, ct: CompiledTopic, g: _Groups, item: _Item) -> Decision:
        topic = ct.topic
        n_all = len(g.all)
        has: dict[Unit, set[int]] = {}
        for i, hs in enumerate(g.all):
            for h in hs:
                has.setdefault((h.field, h.clause), set()).add(i)
        pair_units = {(h.field, h.clause) for h in g.pairs}
        rel_units = {(h.field, h.clause) for hs in g.any for h in hs} | pair_units
        crowd: dict[Unit, set[int]] = {}
        for h in g.crowd:
            crowd.setdefault((h.field, h.clause), set()).add(h.start)      # words, not terms
        vetoed = {(h.field, h.clause) for h in g.veto}
        # "in Minsk" stands for its side (Belarus) where no other country is named: else
        # others are meeting there ("Russia and China held talks in Minsk")
        sides = self._venue_side[self._index[tid]]
        for h in g.venue:
            u = (h.field, h.clause)
            if not crowd.get(u):
                has.setdefault(u, set()).add(sides.get(h.term, 0))
        need_rel = bool(g.any)
        # a relation term in the title counts for any sentence, unless the title is a
        # round-up of several clauses ("Belarus passes budget; China's exports grow")
        title_rel = TITLE in rel_units and item.title_clauses() == 1
        # a title that is a result (a `title_veto` word, which only sport uses, and no
        # relation term: "Azarenka and Chinese partner reach the tournament final") is the
        # story: a body sentence on the same match, or a Belarusian–Chinese doubles pair,
        # does not make it a relation. A title that signs or agrees something is not one.
        title_result = next((h for h in g.title_veto if h.field == "title"), None)
        title_vetoed = title_result is not None and not any(u[0] == "title" for u in rel_units)
        candidates = [u for u in set(has) | pair_units if len(has.get(u, ())) == n_all or u in pair_units]
        if topic.within == "title":
            candidates = [u for u in candidates if u[0] == "title"]
        if not candidates and topic.within == "sentence":
            bridged = self._bridge(g, item, has, crowd, vetoed, rel_units, title_rel, title_result, n_all,
                                   topic.deep_body == "counts")
            if bridged is not None:
                deciding = [h for hs in g.all for h in hs if (h.field, h.clause) in (TITLE, bridged)] + \
                           [h for hs in g.any for h in hs if (h.field, h.clause) in (TITLE, bridged)]
                return self._scored(tid, ct, g, deciding, bridged, "title+lede", item,
                                    f"in the title and {_describe(bridged)} (the lede) together")
        if not candidates:
            spots = {self._label(ct, "all", i): sorted({_describe(u) for u, s in has.items() if i in s})
                     for i in range(n_all)}
            # a side named only by a venue phrase ("to China") in a sentence that names other
            # countries has no place: the phrase stood for it only where no one else is named
            spread = "; ".join(f"'{k}' in {', '.join(v)}" if v else
                               f"'{k}' only in a venue phrase of a sentence naming other countries"
                               for k, v in spots.items())
            scope = "the title" if topic.within == "title" else "one sentence or the title"
            return Decision(tid, False, f"not in {scope}: {spread}")
        listed = self._enumerated(g, item, set(candidates), topic.deep_body == "counts")
        ok = []
        why_not = ""
        body_dropped = False
        for u in sorted(candidates, key=_order):
            if u in listed and u not in pair_units:
                why_not = why_not or (f"{_describe(u)} names a side among three or more "
                                      f"countries or bodies: a list, not a relation")
                continue
            if need_rel and not (u in rel_units or title_rel):
                place = "the title" if u == TITLE else f"{_describe(u)} where the entries meet, nor in the title"
                why_not = why_not or f"no '{self._label(ct, 'any', 0)}' term (relation) in {place}"
                continue
            if u in vetoed and u not in pair_units:
                h = next(h for h in g.veto if (h.field, h.clause) == u)
                label = self._role_of[self._index[tid]].get(h.term, ("veto", "veto"))[0]
                why_not = why_not or (f"{_describe(u)} has a term under veto: '{self._text(item, h)}' "
                                      f"({label}), not a relation")
                continue
            if title_vetoed and u[0] != "title":
                body_dropped = True
                continue
            if len(crowd.get(u, ())) > topic.crowd_max and u not in pair_units:
                why_not = why_not or (f"{_describe(u)} names {len(crowd[u])} other countries: a list, not a "
                                      f"relation (crowd_max {topic.crowd_max})")
                continue
            ok.append(u)
        if not ok:
            if body_dropped:
                assert title_result is not None
                why_not = (f"the title is a result ('{item.fields['title'][title_result.start:title_result.end]}', "
                           f"title_veto) and no body sentence counts" + (f"; {why_not}" if why_not else ""))
            return Decision(tid, False, why_not)
        best = next((u for u in ok if item.in_lede(u)), None)
        if item.title_clauses() >= 3 and not any(u[0] == "title" for u in ok):
            return Decision(tid, False, f"only in the body ({_describe(ok[0])}) of a round-up (its title joins "
                                        f"{item.title_clauses()} unrelated news)")
        if best is None:
            # only deep in the body: the title must not be about the other side alone
            title_groups = set().union(*(v for u, v in has.items() if u[0] == "title"))
            # a title naming another country and no side is about that country; one naming
            # Belarus and a country no topic watches is about that pair ("Pakistan and
            # Belarus sign 15 agreements"): a Belarus–partner sentence deep in its body is a
            # passing mention
            title_crowd = any(u[0] == "title" for u in crowd)
            title = item.fields.get("title", "")
            # a watched name after "in" is where it happened ("Putin and Lukashenko met in
            # Beijing"), not a side the story is about
            named = [h.term for h in g.crowd + g.lists if h.field == "title"
                     and not (h.term in self._places and _AT_PLACE.search(title, 0, h.start))]
            title_other = bool(named) and not self._watched.intersection(named)
            # one naming Belarus and another watched country is about that pair ("Raisi:
            # Tehran ready to share with Minsk…", whose last line recalls a visit to China)
            # — unless two sentences pair them, or the partner comes up in two sentences: a
            # paragraph of its own, not a line in passing
            partner = {u for u, groups in has.items() if u[0] != "title" and groups - {0}}
            title_watched = (title_groups == {0} and len(ok) < 2 and len(partner) < 2
                             and not self._countries.isdisjoint(named))
            if ((title_crowd and not title_groups) or (title_other and title_groups == {0}) or title_watched) \
                    and not any(u[0] == "title" for u in pair_units):
                return Decision(tid, False, f"only deep in the body ({_describe(ok[0])}) while the title is about "
                                            f"another country: the story's subject is elsewhere")
            if (topic.deep_body == "unless-elsewhere" and title_groups and 0 not in title_groups
                    and not any(u[0] == "title" for u in pair_units)):
                labels = ", ".join(self._label(ct, "all", i) for i in sorted(title_groups))
                return Decision(tid, False, f"only deep in the body ({_describe(ok[0])}) while the title is about "
                                            f"'{labels}' without '{self._label(ct, 'all', 0)}': the story's subject "
                                            f"is elsewhere")
            best = ok[0]
        deciding = [h for hs in g.all for h in hs if (h.field, h.clause) == best] + \
                   [h for h in g.pairs + g.venue if (h.field, h.clause) == best]
        rel = [h for hs in g.any for h in hs if (h.field, h.clause) == best] or \
              [h for hs in g.any for h in hs if (h.field, h.clause) == TITLE]
        where = "title" if best[0] == "title" else "sentence"
        why = "in the title" if best[0] == "title" else f"in {_describe(best)}"
        return self._scored(tid, ct, g, deciding + rel, best, where, item, why)

    def _bridge(self, g: _Groups, item: _Item, has: dict[Unit, set[int]], crowd: dict[Unit, set[int]],
                vetoed: set[Unit], rel_units: set[Unit], title_rel: bool, title_result: Optional[Hit],
                n_all: int, bloc: bool) -> Optional[Unit]:
        """The lede sentence that completes the title, if any.

        A headline often names one side and leaves the other to the first sentence
        ("Mogilev region days open in Tianjin" — "…the Chinese port city…"; "Ostrovets
        district and Chinese Qionghai agree to twin" — "…the Belarusian district…"). The two
        read as one statement when the title is one clause and holds a relation term, the
        first sentence of the lede names what the title lacks outright (not in a clause in
        passing) with a relation term of its own, and neither names another country (a
        crowd or, in the title, a `lists` name), a list, a vetoed word or a result."""
        title_groups = has.get(TITLE, set())
        if not title_groups or len(title_groups) == n_all or item.title_clauses() != 1:
            return None
        if title_result is not None or crowd.get(TITLE) or TITLE in vetoed:
            return None
        if any(h.field == "title" for h in g.lists):
            return None                   # "Putin to meet Erdogan, Modi and Pezeshkian at the SCO summit"
        if g.any and not title_rel:
            return None
        first = next((u for u in sorted(has, key=_order) if u[0] != "title"), None)
        if first is None or not item.opens_body(first) or (title_groups | has[first]) != set(range(n_all)):
            return None
        if crowd.get(first) or first in vetoed or first in self._enumerated(g, item, {first, TITLE}, bloc):
            return None
        if first not in rel_units:
            return None
        # the other side only in a clause in passing: "…, who returned from China last week,",
        # "30 countries, Belarus among them", «в том числе из Беларуси»
        text, start, _ = item.unit_text(first)
        missing = set(range(n_all)) - title_groups
        at = min((h.start for h in [h for i in missing for h in g.all[i]] + g.venue if (h.field, h.clause) == first),
                 default=start)
        if _IN_PASSING.search(text, start, at + 1) or _IN_PASSING_AFTER.match(text, at):
            return None
        return first

    def _enumerated(self, g: _Groups, item: _Item, units: set[Unit], bloc: bool = False) -> set[Unit]:
        """Those of ``units`` where a side is one name in an enumeration of three or more
        ("sanctions against Russia, Belarus, Iran and the DPRK"; "visa-free to China, the
        UAE, Serbia and Georgia")."""
        names = sorted([h for h in [h for hs in g.all for h in hs] + g.crowd + g.lists + g.venue
                        if (h.field, h.clause) in units],
                       key=lambda h: (FIELD_ORDER.index(h.field), h.start))
        anchors = {id(h) for hs in g.all for h in hs}
        side = {id(h): i for i, hs in enumerate(g.all) for h in hs}
        # ``bloc``: the partner is a bloc (a topic with `deep_body: counts`, the SCO): among
        # other blocs, Belarus outside the list, it is Belarus speaking of or acting in each
        # ("Belarus sees the CSTO, CIS, SCO and BRICS as security mechanisms"); Belarus
        # among the members is a list

        def party(e: list[Hit]) -> object:
            """Whom an entry names: a side of the topic, or another country (by its term)."""
            return side[id(e[0])] if id(e[0]) in side else ("other", e[0].term)

        listed: set[Unit] = set()
        run: list[list[Hit]] = []                          # the entries, each its names
        unknown = 0                                        # entries between them no list knows
        for h in names:
            last = run[-1][-1] if run else None
            if last is not None and (last.start, last.end) == (h.start, h.end):
                continue                                   # one word, two roles
            if last is not None and last.field == h.field and _SAME_ENTRY.match(item.gap(last, h)):
                run[-1].append(h)
            elif last is not None and last.field == h.field and _SEPARATOR.match(item.gap(last, h)):
                run.append([h])
                # "Lukashenko, Shehbaz Sharif, Prabowo Subianto and Pezeshkian": a capitalised
                # entry between two joins is a name no list knows, another party
                unknown += sum(1 for part in _JOIN.split(item.gap(last, h))[1:-1] if _NAME.search(part))
            else:
                run = [[h]]
                unknown = 0
            # three names or more of three parties or more, a side among them: "Lukashenko,
            # Prime Minister Turchin and Foreign Minister Ryzhenkov" is one delegation, and
            # "Larijani, Rouhani and Zarif" the other side's, not a list
            parties = {party(e) for e in run}
            if len(run) + unknown >= 3 and any(id(x) in anchors for e in run for x in e) \
                    and len(parties) + unknown >= 3 and not (bloc and 0 not in parties):
                listed |= {(x.field, x.clause) for e in run for x in e}
        return listed

    # ---- evidence ----------------------------------------------------------------------
    def _scored(self, tid: str, ct: CompiledTopic, g: _Groups, deciding: list[Hit], unit: Optional[Unit],
                where: str, item: _Item, why: str) -> Decision:
        topic = ct.topic
        weights = {grp.label: grp.weight for grp in ct.groups}
        score = 0.0
        for role, lists in (("all", g.all), ("any", g.any)):
            for i, hs in enumerate(lists):
                if hs:
                    spans = {(h.field, h.start) for h in hs}      # two terms on the same words: one mention
                    mentions = len(spans) + sum(1 for f, _ in spans if f == "title")
                    score += weights.get(self._label(ct, role, i), 1.0) * min(3.0, 1.0 + 0.25 * (mentions - 1))
        score += 2.0 * len(g.pairs) if g.pairs else 0.0
        score = round(score, 3)
        if score < topic.min_score:
            return Decision(tid, False, f"score {score} is below min_score {topic.min_score}")
        return Decision(tid, True, f"matched {why}", unit, _ordered(deciding), score, where, g)

    def _to_match(self, d: Decision, item: _Item, hits: list[Hit]) -> TopicMatch:
        ti = self._index[d.topic_id]
        g = d.groups
        assert g is not None
        others = [h for hs in g.all for h in hs] + [h for hs in g.any for h in hs] + g.pairs
        deciding = d.deciding
        decided = {(h.field, h.start, h.end) for h in deciding}
        rest = [h for h in _ordered(others) if (h.field, h.start, h.end) not in decided]
        shown = (deciding + rest)[:MAX_HITS]
        role_of = self._role_of[ti]
        views = tuple(HitView(self.terms[h.term].text, *role_of.get(h.term, ("", "all")), h.field, h.start, h.end,
                              item.fields[h.field][h.start:h.end]) for h in shown)
        terms: list[str] = []
        for h in deciding + rest:
            t = self.terms[h.term].text
            if t not in terms:
                terms.append(t)
        snippet = self._snippet(item, d.unit, deciding, shown)
        ev = Evidence(topic=d.topic_id, score=d.score, terms=tuple(terms), hits=views, snippet=snippet,
                      rules_version=self.rulebook.version, where=d.where)
        return TopicMatch(d.topic_id, d.score, shown, ev)

    def _snippet(self, item: _Item, unit: Optional[Unit], deciding: list[Hit], shown: list[Hit]) -> Snippet:
        # show the sentence that decided; for the title (shown anyway), the lede with its hits
        if unit is not None and unit[0] != "title":
            text, start, end = item.unit_text(unit)
            return _window(text, start, end, [h for h in shown if h.field == unit[0]])
        for name in ("summary", "body", "text"):
            if name in item.fields:
                in_field = [h for h in shown if h.field == name]
                if in_field or (unit is not None and unit[0] == "title"):
                    text = item.fields[name]
                    first = in_field[0].start if in_field else 0
                    start = max(0, first - 80)
                    return _window(text, start, min(len(text), start + SNIPPET_CHARS), in_field)
        if "title" in item.fields:
            text = item.fields["title"]
            return _window(text, 0, len(text), [h for h in shown if h.field == "title"])
        return Snippet(None, "")

    def _text(self, item: _Item, h: Hit) -> str:
        return item.fields[h.field][h.start:h.end]


def _window(text: str, start: int, end: int, hits: list[Hit]) -> Snippet:
    end = min(end, start + SNIPPET_CHARS, len(text))
    if start > 0:
        space = text.find(" ", start, start + 40)
        start = space + 1 if space >= 0 and not any(h.start < space + 1 <= h.end for h in hits) else start
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start and not any(h.start < space < h.end for h in hits) else end
    marks = tuple(sorted((h.start - start, h.end - start) for h in hits if h.start >= start and h.end <= end))
    field_name = next((h.field for h in hits), None)
    return Snippet(field_name, text[start:end].strip(), marks, start > 0, end < len(text))


def _ordered(hits: list[Hit]) -> list[Hit]:
    """Hits in text order, one per stretch of text (two terms matching the same words,
    "Lukashenk*" and "Лукашенко", are shown once)."""
    seen: set[tuple[str, int, int]] = set()
    out = []
    for h in sorted(hits, key=lambda h: (FIELD_ORDER.index(h.field), h.start, h.end)):
        span = (h.field, h.start, h.end)
        if span not in seen:
            seen.add(span)
            out.append(h)
    return out


def _order(u: Unit) -> tuple[int, int]:
    return (FIELD_ORDER.index(u[0]), u[1])


def _describe(u: Unit) -> str:
    if u == TITLE:
        return "the title"
    if u[0] == "title":
        return f"part {u[1] + 1} of the title"
    return f"{u[0]} sentence {u[1] + 1}"


def _pos(h: Hit) -> int:
    return FIELD_ORDER.index(h.field) * _FIELD_GAP + h.start // 6      # about a word per six characters


def _min_window(groups: list[list[int]]) -> int:
    """Smallest span of positions holding at least one of every group."""
    events = sorted((p, gi) for gi, ps in enumerate(groups) for p in ps)
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
