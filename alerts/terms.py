"""One term of the rule language, compiled: the word patterns it is made of.

A term is a word or phrase. ``*`` at the end of a word matches any ending (at least three
letters before it). A word in capitals of two to five letters (SCO, ШОС, КНР, PRC) matches
only when written in capitals. A ``re:`` term is a regular expression run by RE2, which
cannot backtrack catastrophically; like every term it matches whole words only. Other words also match their inflected forms:

* Cyrillic words of four letters or more take the Russian and Belarusian case endings
  (Иран → Ирана, Ираном, Иране; Кітай → Кітая, Кітаем; Беларусь → Беларуси, Беларуссю).
  Only noun endings are generated: adjectives (Минское, иранские) need an explicit
  ``иранск*`` term, which keeps "Минское шоссе" away from "Минск".
* Latin words take plural and possessive forms (China → Chinas, China's), never a
  longer word ("chinaware" does not match China).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import re2

from newswatch.alerts.text import normalize_word

MIN_PREFIX = 3
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LETTERS = re.compile(r"[^\W\d_]")
# Russian and Belarusian noun endings (all cases, both numbers). Adjective endings are
# deliberately absent: "Минское" is not a form of "Минск".
_CYR_ENDINGS = (
    "а", "я", "у", "ю", "е", "э", "і", "и", "ы", "ом", "ем", "ём", "ам", "ям", "ах", "ях",
    "ами", "ями", "амі", "ямі", "ой", "ей", "ою", "ею", "ов", "ев", "аў", "яў", "ью", "ём",
)
_CYR_SOFT_FINALS = "ьйаяоеыіи"


def cyrillic_forms(word: str) -> frozenset[str]:
    forms = {word}
    if len(word) < 4:
        return frozenset(forms)
    if word[-1] in _CYR_SOFT_FINALS:
        stem = word[:-1]
        if word.endswith("сь"):  # Belarusian instrumental doubles: Беларусь → Беларуссю
            forms.add(stem + "сю")
    else:
        stem = word
    forms.update(stem + e for e in _CYR_ENDINGS)
    return frozenset(forms)


def latin_forms(word: str) -> frozenset[str]:
    forms = {word, word + "s", word + "es"}
    if len(word) > 3 and word.endswith("y"):
        forms.add(word[:-1] + "ies")
    return frozenset(forms)


@dataclass(frozen=True)
class WordPattern:
    forms: Optional[frozenset[str]]   # exact normalised forms, or None for a prefix word
    prefix: Optional[str]
    acronym: bool

    def matches(self, norm: str, upper: bool) -> bool:
        if self.acronym and not upper:
            return False
        if self.forms is not None:
            return norm in self.forms
        return norm.startswith(self.prefix)


@dataclass(frozen=True)
class Term:
    text: str                                # as the operator wrote it
    words: tuple[WordPattern, ...] = ()
    regex: Optional[object] = None           # compiled RE2 pattern for re: terms
    joins: tuple[bool, ...] = ()             # per later word: must a hyphen/dash precede it?


DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015/"
_SPLIT = re.compile(f"([\\s{re.escape(DASHES)}]+)")
# Between the words of a phrase the text may have spaces, dashes and quotes, but not
# sentence punctuation: "Iran, Belarus" is a list, not the compound "Iran-Belarus".
_BREAKS = frozenset(",.;:!?()[]{}|\n")


def gap_allows(gap: str, needs_dash: bool) -> bool:
    """May this text between two words of a phrase join them?"""
    if any(c in _BREAKS for c in gap):
        return False
    return not needs_dash or any(c in DASHES for c in gap)


def compile_term(text: str) -> Term:
    """Compile one term; ValueError with a message an operator can act on."""
    if not isinstance(text, str):
        raise ValueError(f"a term must be text, not {type(text).__name__}")
    raw = text.strip()
    if not raw:
        raise ValueError("empty term")
    if raw.startswith("re:"):
        # The pattern is wrapped so that it matches whole words in any script; RE2's own
        # \b knows only ASCII letters (it would fail silently on Cyrillic), so it is dropped.
        pattern = raw[3:].strip().replace("\\b", "")
        if not pattern:
            raise ValueError("empty regular expression after 're:'")
        options = re2.Options()
        options.case_sensitive = False
        options.max_mem = 8 << 20
        options.log_errors = False
        try:
            re2.compile(pattern, options)   # report mistakes in the operator's own pattern
            compiled = re2.compile(r"(?:^|[^\p{L}\p{N}_])(" + pattern + r")(?:[^\p{L}\p{N}_]|$)", options)
        except re2.error as exc:
            detail = exc.args[0] if exc.args else exc
            if isinstance(detail, bytes):
                detail = detail.decode("utf-8", "replace")
            raise ValueError(f"bad regular expression {pattern!r}: {detail}") from None
        if re2.compile(pattern, options).search("") is not None:
            raise ValueError(f"regular expression {pattern!r} matches empty text, so it matches everything")
        return Term(text=raw, regex=compiled)
    words, joins = [], []
    pieces = _SPLIT.split(raw)
    for n, piece in enumerate(pieces):
        if n % 2 == 1 or not piece:          # a separator: spaces or a dash
            continue
        if words:
            joins.append(any(c in DASHES for c in pieces[n - 1]))
        wildcard = piece.endswith("*")
        core = piece.rstrip("*")
        if "*" in core:
            raise ValueError(f"'*' only goes at the end of a word, as in Lukashenk* (in {raw!r})")
        letters = _LETTERS.findall(core)
        acronym = 2 <= len(letters) <= 5 and core.isupper()
        norm = normalize_word(core)
        if not norm or not re.search(r"\w", norm):
            raise ValueError(f"term {raw!r} has no letters or digits, so it can never match")
        if wildcard:
            if len(norm) < MIN_PREFIX:
                raise ValueError(f"'{piece}' would match too much: put at least {MIN_PREFIX} letters before '*'")
            words.append(WordPattern(forms=None, prefix=norm, acronym=acronym))
        elif acronym:
            words.append(WordPattern(forms=frozenset({norm}), prefix=None, acronym=True))
        elif _CYRILLIC.search(norm):
            words.append(WordPattern(forms=cyrillic_forms(norm), prefix=None, acronym=False))
        else:
            words.append(WordPattern(forms=latin_forms(norm), prefix=None, acronym=False))
    if not words:
        raise ValueError(f"term {raw!r} has no letters or digits, so it can never match")
    return Term(text=raw, words=tuple(words), joins=tuple(joins))
