"""Inflected forms of a term's words, computed once when the rules compile (the scan then
looks up surface forms, never lemmas).

* Russian: pymorphy3 with its Russian dictionary — every form of the word's lexeme (all
  cases and numbers of a noun or adjective; every tense, person, gender and participle of a
  verb). Names the dictionary does not know (Пезешкиан) are inflected by its predictor.
* Belarusian: no dictionary is packaged, so a table of endings (below, and in
  docs/rules.md): nouns by their final letter, adjectives (-скі, -ны, -і …), verbs by
  their infinitive (-ць, -цца) with the past tense (-ў, -ла, -лі) and the present.
* English: regular forms — plural and third person (-s, -es, -ies), past (-ed, -d, -ied,
  doubled final consonant), gerund (-ing); irregular ones are written as terms (met, sold).

A word with Belarusian letters (і, ў) is Belarusian; with и, щ, ъ Russian; other Cyrillic
words get both. A word written in capitals (ШОС, КНР) or starting with ``=`` is not
inflected.
"""

from __future__ import annotations

import atexit
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from newswatch.alerts.text import normalize_word

_BE_ONLY = re.compile("[іў']")          # Russian writes ъ where Belarusian has an apostrophe
_RU_ONLY = re.compile("[ищъ]")
_LATIN = re.compile(r"^[a-z'\-]+$")
_VOWELS = set("aeiou")


@lru_cache(maxsize=1)
def _morph() -> Any:   # loaded once, on first use (about 0.1 s)
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang="ru")


def russian_forms(word: str) -> set[str]:
    parses = _morph().parse(word)
    if not parses:
        return {word}
    best = max(p.score for p in parses)
    forms = {word}
    for p in parses:
        if p.score < best * 0.3 or p.tag.POS is None:
            continue
        forms.update(normalize_word(f.word) for f in p.lexeme)
    return forms


# ---- Belarusian ----------------------------------------------------------------------------
# Endings by the word's class, in docs/rules.md too. Overgenerating a rare ungrammatical
# form is harmless (nobody writes it); missing a real one loses a story.
_BE_VOWELS = set("аеёіоуыэюя")
_BE_ADJ = ("ы", "і", "ая", "ае", "ага", "аму", "ым", "ім", "ой", "ай", "ую", "ыя", "ія", "ых", "іх", "ымі", "імі",
           "ое", "яе", "яя", "яга", "яму")
_BE_HARD = ("", "а", "у", "ам", "е", "ы", "і", "аў", "амі", "ах", "ох")
_BE_FEM_A = ("а", "ы", "і", "е", "у", "ай", "аю", "ам", "амі", "ах", "")
_BE_FEM_YA = ("я", "і", "ю", "яй", "яю", "ям", "ямі", "ях", "ей", "")
_BE_SOFT = ("ь", "і", "ю", "ем", "ём", "яў", "ям", "ямі", "ях", "ей", "я")
_BE_J = ("й", "я", "ю", "ем", "ём", "і", "яў", "ям", "ямі", "ях")
_BE_NEUT_SOFT = ("е", "я", "ю", "ем", "і", "яў", "ям", "ямі", "ях")
_BE_NEUT_HARD = ("а", "о", "у", "ам", "е", "ы", "і", "аў", "амі", "ах")
_BE_LOC = {"т": "це", "д": "дзе", "р": "ры"}         # аб візіце, у Тэгеране → (р: аб Тэгеране, Тэгеры-)


def _be_verb(w: str) -> set[str]:
    refl = w.endswith(("цца", "ціся"))
    core = w[:-3] if w.endswith("цца") else w[:-4] if w.endswith("ціся") else w[:-2]
    s = "ся" if refl else ""
    out = {w}
    if core and core[-1] in _BE_VOWELS:                # past tense: наведаў, наведала, наведалі
        out |= {core + "ў" + s, core + "ла" + s, core + "ло" + s, core + "лі" + s, core + "ўшы" + s}
    if core.endswith("і"):                             # second conjugation: асудзіць → асудзіць, асудзяць
        base = core[:-1]
        present = ["ю", "у", "іш", "іць", "ім", "іце", "яць", "аць", "ячы", "ачы"]
    else:                                              # first: наведаць → наведае, наведаюць
        base = core
        present = ["ю", "еш", "е", "ем", "еце", "юць", "ючы"]
        if core.endswith("ава"):                       # віншаваць → віншуе, віншуюць
            base2 = core[:-3] + "у"
            out |= {base2 + e + s for e in ("ю", "еш", "е", "ем", "еце", "юць", "ючы")}
    for e in present:
        if refl:
            out.add(base + (e[:-2] + "цца" if e.endswith("ць") else e + ("цца" if e == "е" else "ся")))
        else:
            out.add(base + e)
    return out


# Taraškievica (the classical orthography Radio Svaboda and Nasha Niva write) marks the
# softness of doubled consonants: уступленне → уступленьне, насенне → насеньне.
_TARASK = (("нн", "ньн"), ("лл", "льл"), ("цц", "цьц"), ("сс", "сьс"), ("зз", "зьз"))


def belarusian_forms(word: str) -> set[str]:
    forms = _belarusian_forms(word)
    extra = set()
    for f in forms:
        for plain, marked in _TARASK:
            if plain in f:
                extra.add(f.replace(plain, marked))
    return forms | extra


def _belarusian_forms(word: str) -> set[str]:
    w = word
    if len(w) < 3:
        return {w}
    if w.endswith(("ць", "цца", "ціся")) or (w.endswith("ці") and len(w) > 4):
        return {normalize_word(f) for f in _be_verb(w)}
    out = {w}
    if w.endswith(("скі", "цкі", "ны", "ні", "вы", "кі", "гі", "хі", "ы", "ая", "ае", "і")) and len(w) > 4:
        stem = w[:-2] if w.endswith(("ая", "ае")) else w[:-1]
        out |= {stem + e for e in _BE_ADJ}
        if not w.endswith(("ы", "і")):
            return {normalize_word(f) for f in out}
        # a word in -ы/-і may also be a plural noun (перамовы): fall through to add those forms
    if w.endswith("ь"):
        stem = w[:-1]
        out |= {stem + e for e in _BE_SOFT}
        if stem[-1:] in "сзцлндт":                      # Беларусь → Беларуссю, сувязь → сувяззю
            out.add(stem + stem[-1] + "ю")
    elif w.endswith("й"):
        out |= {w[:-1] + e for e in _BE_J}
    elif w.endswith("я"):
        out |= {w[:-1] + e for e in _BE_FEM_YA}
    elif w.endswith("а"):
        out |= {w[:-1] + e for e in _BE_FEM_A}          # сустрэча; Лукашэнка (-і, -у, -ам) too
    elif w.endswith("е") and w[-2:-1] == w[-3:-2]:     # пагадненне, супрацоўніцтва-like soft neuter
        out |= {w[:-1] + e for e in _BE_NEUT_SOFT}
    elif w.endswith(("о", "е", "ё")):
        out |= {w[:-1] + e for e in _BE_NEUT_HARD}
    elif w.endswith(("ы", "і")):                        # plural-only: перамовы → перамоў, перамовам
        stem = w[:-1]
        out |= {stem + e for e in ("аў", "ам", "амі", "ах", "")}
        if stem.endswith("в"):
            out.add(stem[:-1] + "ў")
    else:
        out |= {w + e for e in _BE_HARD}
        if w[-1] in _BE_LOC:
            out.add(w[:-1] + _BE_LOC[w[-1]])
    return {normalize_word(f) for f in out if f}


# ---- English -------------------------------------------------------------------------------
def english_forms(word: str) -> set[str]:
    w = word
    if len(w) <= 3 or not _LATIN.match(w) or w in _FUNCTION_WORDS:
        return {w, w + "s"} if len(w) == 3 and w not in _FUNCTION_WORDS else {w}
    forms = {w, w + "s", w + "es"}
    if w.endswith("y") and w[-2] not in _VOWELS:
        forms.update({w[:-1] + "ies", w[:-1] + "ied", w + "ing"})
    elif w.endswith("e"):
        forms.update({w + "d", w[:-1] + "ing", w + "s"})
    else:
        forms.update({w + "ed", w + "ing"})
        if len(w) >= 3 and w[-1] not in _VOWELS | {"w", "x", "y"} and w[-2] in _VOWELS and w[-3] not in _VOWELS:
            forms.update({w + w[-1] + "ed", w + w[-1] + "ing"})       # plan → planned, planning
    return forms


# Words a phrase is built with but that do not inflect (or whose forms are other words).
_FUNCTION_WORDS = frozenset({
    "in", "at", "on", "of", "the", "a", "an", "and", "or", "to", "for", "with", "by", "from", "as", "into", "new",
    "в", "во", "у", "ў", "с", "со", "на", "по", "и", "к", "о", "об", "от", "из", "за", "для", "при", "над", "под",
    "і", "з", "са", "ад", "да", "пры", "аб", "ці", "ли", "не",
})


def forms_of(word: str, raw: str) -> frozenset[str]:
    """Every form of one word of a term. ``word`` is normalised, ``raw`` as written.

    Russian forms come from the dictionary (a few milliseconds a word), so they are kept in
    a cache file between runs (``_FormsCache``): a settings file of a thousand terms then
    compiles in a fraction of a second."""
    key = f"{word}\t{raw}"
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    forms = _forms_of(word, raw)
    _CACHE.put(key, forms)
    return forms


class _FormsCache:
    """Word → forms, in a JSON file under the user's cache folder ($NEWSWATCH_CACHE_DIR,
    else $XDG_CACHE_HOME/newswatch, else ~/.cache/newswatch), named for the dictionary's
    and these rules' versions; read on first use, written back at exit when it grew. A
    folder that cannot be written only means no cache."""

    VERSION = "1"        # bump when the inflection rules above change

    def __init__(self) -> None:
        self.forms: Optional[dict[str, frozenset[str]]] = None
        self.new = 0
        self.registered = False

    def _path(self) -> Optional[Path]:
        root = os.environ.get("NEWSWATCH_CACHE_DIR") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "newswatch")
        try:
            from importlib.metadata import version

            dicts = version("pymorphy3-dicts-ru")
        except Exception:   # noqa: BLE001 - no metadata: no cache
            return None
        return Path(root) / f"forms-{self.VERSION}-{dicts}.json"

    def _load(self) -> dict[str, frozenset[str]]:
        if self.forms is None:
            self.forms = {}
            path = self._path()
            try:
                if path is not None and path.exists():
                    self.forms = {k: frozenset(v) for k, v in json.loads(path.read_text("utf-8")).items()}
            except (OSError, ValueError):
                self.forms = {}
            if not self.registered:
                atexit.register(self.save)
                self.registered = True
        return self.forms

    def get(self, key: str) -> Optional[frozenset[str]]:
        return self._load().get(key)

    def put(self, key: str, forms: frozenset[str]) -> None:
        self._load()[key] = forms
        self.new += 1

    def save(self) -> None:
        path = self._path()
        if not self.new or path is None or self.forms is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({k: sorted(v) for k, v in self.forms.items()}, ensure_ascii=False), "utf-8")
            os.replace(tmp, path)
            self.new = 0
        except OSError:
            pass


_CACHE = _FormsCache()


def release_cache() -> None:
    """Write the forms cache if it grew, and let go of it: it holds the forms of every term
    any settings file here ever had (tens of MB), and a compiled rulebook keeps its own."""
    _CACHE.save()
    _CACHE.forms = None


def _forms_of(word: str, raw: str) -> frozenset[str]:
    letters = [c for c in raw if c.isalpha()]
    if raw.startswith("=") or (2 <= len(letters) <= 5 and all(c.isupper() for c in letters)) \
            or word in _FUNCTION_WORDS or len(word) <= 2:
        return frozenset({word})
    if re.search("[\u0400-\u04ff]", word):
        out: set[str] = {word}
        spelled = raw.lower()
        if not _BE_ONLY.search(spelled):
            out |= russian_forms(word)
        if not _RU_ONLY.search(spelled):
            out |= belarusian_forms(spelled.lstrip("=").replace("ё", "е"))
        return frozenset(out)
    if re.search("[a-z]", word):
        return frozenset(english_forms(word))
    return frozenset({word})
