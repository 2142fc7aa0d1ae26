"""Text normalisation shared by the rules (at compile time) and the scanner (per item).

Words are compared after Unicode normalisation (NFKC), case folding, ё→е, typographic
apostrophes unified, and soft hyphens, zero-width characters and stress marks removed.

``fold`` turns a whole field into its matching form in one pass and keeps offsets: when
the folded text has the length of the original (nearly always), offsets are the same; when
it does not (stress marks, soft hyphens, ligatures), ``Folded.original`` maps back.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Optional

_APOS = "'\u2019\u02bc\u2018`\u00b4"
_DROP = "\u00ad\u200b\u200c\u200d\u2060\u0301\u0300"
_DROP_MAP = dict.fromkeys(map(ord, _DROP), None)
_APOS_MAP = {ord(c): "'" for c in _APOS}
# ё is written е; Belarusian ў is у after a vowel ("у Мінску" / "ў Мінску"), so the two are one
_FOLD_PAIRS = (("ё", "е"), ("ў", "у"), ("\u2019", "'"), ("\u02bc", "'"), ("\u2018", "'"), ("`", "'"), ("\u00b4", "'"))
WORD_RE = re.compile(r"\w+")
CYRILLIC = re.compile(r"[\u0400-\u04ff]")


def normalize_word(word: str) -> str:
    """One word (of a term) in its matching form."""
    w = unicodedata.normalize("NFKC", word).translate(_DROP_MAP)
    w = unicodedata.normalize("NFC", w).casefold().translate(_APOS_MAP)
    return w.replace("ё", "е").replace("ў", "у")


def is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


@dataclass
class Folded:
    text: str                                  # the matching form
    offsets: Optional[list[int]] = None        # folded index → original index, when they differ

    def inverse(self) -> dict[int, int]:
        """Original index → folded index (first folded character of it)."""
        out: dict[int, int] = {}
        for folded_i, orig in enumerate(self.offsets or ()):
            out.setdefault(orig, folded_i)
        return out

    def original(self, i: int) -> int:
        if self.offsets is None:
            return i
        return self.offsets[i] if i < len(self.offsets) else (self.offsets[-1] + 1 if self.offsets else 0)


# Characters that Unicode normalisation would lengthen but that never matter inside a
# term: replaced by one character each, so ordinary text keeps the fast path.
_SAME_LENGTH = (("…", "."), ("№", "#"))      # the common ones; the rest take the slow path


def fold(text: str) -> Folded:
    """Lower-case, ё→е, apostrophes unified, keeping offsets (C-speed for ordinary text)."""
    if not text.isascii():
        for old, new in _SAME_LENGTH:
            if old in text:
                text = text.replace(old, new)
    if not any(c in text for c in _DROP) and unicodedata.is_normalized("NFKC", text):
        folded = text.lower()
        if len(folded) == len(text):
            for old, new in _FOLD_PAIRS:     # str.replace beats str.translate on non-ASCII text
                if old in folded:
                    folded = folded.replace(old, new)
            return Folded(folded)
    # rare: characters that change length when normalised; build an offset map
    out: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        if ch in _DROP:
            continue
        norm = normalize_word(ch) if ch not in _APOS else "'"
        if not norm:
            continue
        for c in norm:
            out.append(c)
            offsets.append(i)
    return Folded("".join(out), offsets)
