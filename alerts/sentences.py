"""Where sentences end, so that a topic's terms can be required to meet in one of them.

A sentence ends at ``. ! ? …`` (and closing quotes or brackets) followed by a space and a
capital letter, a digit or an opening quote, at a line break, and — since round-ups join
unrelated news with them — at a semicolon or a `` | ``. Not after an initial
("А. Лукашенко", "A. Lukashenko"), a common abbreviation ("Mr.", "Dr.", "U.S.", "т.е.",
"г.") or a number ("No. 5").
"""

from __future__ import annotations

import bisect
import re

_END = re.compile(r"[.!?…]+[\"»”’)\]]*\s+(?=[\"«“„(\[]?[A-ZА-ЯЁІЎ0-9])|;\s+|\s\|\s|\n+")
_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "st", "no", "vs", "etc", "gen", "col", "lt", "sen", "rep", "gov", "prof", "jr", "sr",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "inc", "ltd", "co", "corp",
    "u.s", "u.k", "u.n", "e.g", "i.e", "approx", "est", "dept", "mt", "ft",
    "т", "г", "гг", "им", "ул", "д", "т.е", "т.д", "т.п", "т.к", "с", "стр", "млн", "млрд", "тыс", "руб", "проф",
    "акад", "ген", "зам", "пр", "см", "напр", "вкл", "ст", "арт", "рис",
})


def _is_false_end(text: str, dot: int) -> bool:
    """Is the ``.`` at ``dot`` part of an initial or an abbreviation?"""
    if text[dot] != ".":
        return False
    start = dot
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "."):
        start -= 1
    word = text[start:dot].lower()
    if len(word) == 1 and word.isalpha():
        # an initial ("А. Лукашенко"), but "Ван И." is China's foreign minister, Wang Yi
        return not (word in ("и", "і") and re.search(r"(?:^|\s)Ван\s+$", text[:start]))
    return word in _ABBREVIATIONS


def boundaries(text: str) -> list[int]:
    """Start offsets of the sentences after the first (the first starts at 0)."""
    out = []
    for m in _END.finditer(text):
        if m.group()[0] in "\n;| " or not _is_false_end(text, m.start()):
            out.append(m.end())
    return out


# A comma followed by a conjunction that opens a new clause: round-ups and compound
# sentences join unrelated news that way ("MTZ raised output, а Пекін cut duties").
# Only contrastive joints: after ", and" / ", и" the subject is often the same one.
# ", а также" / ", а таксама" is "and also", the tail of a list, not a contrast
_CLAUSE = re.compile(r",\s+(?:while|whereas|but|meanwhile|а(?!\s+(?:также|таксама)\b)|но|тогда как|в то время как|але|"
                     r"тады як)\s", re.I)


class Sentences:
    """The sentence (and clause) an offset of one field falls in."""

    def __init__(self, text: str):
        self.starts = [0] + boundaries(text)
        self.clauses = sorted(set(self.starts) | {m.start() for m in _CLAUSE.finditer(text)})

    def index(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset) - 1

    def clause(self, offset: int) -> int:
        return bisect.bisect_right(self.clauses, offset) - 1

    def __len__(self) -> int:
        return len(self.starts)
