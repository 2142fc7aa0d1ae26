"""Word normalisation shared by the rules and the matcher.

Tokens keep their offsets in the original text, so evidence can point at what the reader
sees. Normalisation per token: NFKC, case folding, ё→е, stress marks, soft hyphens and
zero-width characters removed, typographic apostrophes unified, English possessive dropped.
Hyphens and dashes separate tokens, so "белорусско-иранские" yields two words.
"""

from __future__ import annotations

import re
import unicodedata

# A word: letters/digits (and combining marks, soft hyphen, zero-width joiners inside it),
# optionally joined by apostrophes (Belarusian сям'я, O'Brien, Lukashenka's).
_WORD = r"[\w\u0300-\u036f\u00ad\u200b-\u200d\u2060]+"
_APOS = "'\u2019\u02bc\u2018`\u00b4"
TOKEN_RE = re.compile(rf"{_WORD}(?:[{_APOS}]{_WORD})*")
_DROP = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\u0301\u0300"), None)
_APOS_MAP = {ord(c): "'" for c in _APOS}


def normalize_word(word: str) -> str:
    w = unicodedata.normalize("NFKC", word).translate(_DROP)
    w = unicodedata.normalize("NFC", w).casefold().translate(_APOS_MAP)
    w = w.replace("ё", "е")
    if w.endswith("'s"):
        w = w[:-2]
    elif w.endswith("'"):
        w = w[:-1]
    return w
