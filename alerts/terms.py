"""One term of the rule language, compiled into the word patterns it is made of.

* A plain word matches its inflected forms, computed once here (``alerts.morphology``):
  ``Иран`` also matches Ирана, Ираном; ``посетить`` посетил, посетила, посетившие;
  ``visit`` visits, visited, visiting; ``Кітай`` Кітая, Кітаем.
* ``word*`` matches any word that starts with ``word`` (at least three letters before ``*``).
* ``=word`` matches the word exactly, not its other forms.
* ``^Word`` matches only when written with a capital ("^China" is the country, not the
  porcelain of "Minsk-made china").
* A word of two to five capitals (SCO, ШОС, КНР) matches only when written in capitals.
* A phrase (``Великий камень``, ``Shanghai Cooperation Organization``) matches its words in
  order, each in any of its forms («в Великом камне»), with spaces, dashes or quotes
  between them but not sentence punctuation; a dash written in the term requires a dash.
* ``re:…`` is a regular expression (RE2: linear time), matched on whole words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

import re2

from newswatch.alerts.morphology import forms_of
from newswatch.alerts.text import normalize_word

MIN_PREFIX = 3
_LETTERS = re.compile(r"[^\W\d_]")
DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015/"
_APOSTROPHES = "'\u2019\u02bc"
_SPLIT = re.compile(f"([\\s{re.escape(DASHES)}]+)")
# Between the words of a phrase the text may have spaces, dashes and quotes, but not
# sentence punctuation: "Iran, Belarus" is a list, not the compound "Iran-Belarus".
_BREAKS = frozenset(",.;:!?()[]{}|\n")


def gap_allows(gap: str, needs_dash: bool) -> bool:
    """May this text between two words of a phrase join them?"""
    if len(gap) > 6 or any(c in _BREAKS for c in gap):
        return False
    return not needs_dash or any(c in DASHES for c in gap)


@dataclass(frozen=True)
class WordPattern:
    forms: Optional[frozenset[str]]   # exact normalised forms, or None for a prefix word
    prefix: Optional[str]
    acronym: bool
    capital: bool = False             # must start with a capital letter in the text

    def matches(self, norm: str) -> bool:
        if self.forms is not None:
            return norm in self.forms
        assert self.prefix is not None
        return norm.startswith(self.prefix)


@dataclass(frozen=True)
class Term:
    text: str                                # as the operator wrote it
    words: tuple[WordPattern, ...] = ()
    regex: Optional[Any] = None              # compiled RE2 pattern for re: terms
    joins: tuple[bool, ...] = ()             # per later word: must a dash precede it?

    @property
    def length(self) -> int:
        return len(self.words) or 1


def _regex(raw: str) -> Term:
    # wrapped so that it matches whole words in any script; RE2's own \\b knows only ASCII
    pattern = raw[3:].strip().replace("\\b", "")
    if not pattern:
        raise ValueError("empty regular expression after 're:'")
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = 8 << 20
    options.log_errors = False
    try:
        re2.compile(pattern, options)
        compiled = re2.compile(r"(?:^|[^\p{L}\p{N}_])(" + pattern + r")(?:[^\p{L}\p{N}_]|$)", options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise ValueError(f"bad regular expression {pattern!r}: {detail}") from None
    if re2.compile(pattern, options).search("") is not None:
        raise ValueError(f"regular expression {pattern!r} matches empty text, so it matches everything")
    return Term(text=raw, regex=compiled)


MAX_TERM_CHARS = 200


def compile_term(text: str) -> Term:
    """Compile one term; ValueError with a message an operator can act on."""
    if not isinstance(text, str):
        raise ValueError(f"a term must be text, not {type(text).__name__}")
    raw = text.strip()
    if not raw:
        raise ValueError("empty term")
    if len(raw) > MAX_TERM_CHARS:
        # a term is a name or a phrase; a longer one is a pasted text, and costs the scanner
        # time in the square of its length
        raise ValueError(f"a term of {len(raw):,} characters; a term is a word or a phrase of at most "
                         f"{MAX_TERM_CHARS} characters")
    if raw.startswith("re:"):
        return _regex(raw)
    words: list[WordPattern] = []
    joins: list[bool] = []
    pieces = _SPLIT.split(raw)
    for n, piece in enumerate(pieces):
        if n % 2 == 1 or not piece:          # a separator: spaces or a dash
            continue
        if words:
            joins.append(any(c in DASHES for c in pieces[n - 1]))
        capital = piece.startswith("^")
        piece = piece.lstrip("^")
        exact = piece.startswith("=")
        core = piece.lstrip("=")
        wildcard = core.endswith("*")
        core = core.rstrip("*")
        if "*" in core:
            raise ValueError(f"'*' only goes at the end of a word, as in Lukashenk* (in {raw!r})")
        letters = _LETTERS.findall(core)
        acronym = 2 <= len(letters) <= 5 and core.isupper()
        norm = normalize_word(core).strip("'")
        if not norm or not re.search(r"\w", norm):
            raise ValueError(f"term {raw!r} has no letters or digits, so it can never match")
        if wildcard:
            if len(norm) < MIN_PREFIX:
                raise ValueError(f"'{piece}' would match too much: put at least {MIN_PREFIX} letters before '*'")
            words.append(WordPattern(forms=None, prefix=norm, acronym=acronym, capital=capital))
        elif "'" in norm:
            # a text's words end at an apostrophe (People's → people, s; сям'і → сям, і): inflect
            # the whole word, then split each form the same way
            forms = forms_of(norm, ("=" if exact else "") + core)
            parts = [f.split("'") for f in forms]
            for k in range(max(len(p) for p in parts)):
                if k:
                    joins.append(False)
                words.append(WordPattern(forms=frozenset(p[k] for p in parts if len(p) > k and p[k]),
                                         prefix=None, acronym=False))
        else:
            forms = forms_of(norm, ("=" if exact else "") + core)
            words.append(WordPattern(forms=forms, prefix=None, acronym=acronym, capital=capital))
    if not words:
        raise ValueError(f"term {raw!r} has no letters or digits, so it can never match")
    return Term(text=raw, words=tuple(words), joins=tuple(joins))
