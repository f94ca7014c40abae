"""French words of a report: lowercase, accents stripped, stop words dropped, endings cut."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Letters only (no digits, no underscore): "l'école" gives "l" and "école", "10cm" gives "cm".
_WORD = re.compile(r"[^\W\d_]+")
# Ligatures that NFKD leaves whole.
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae"})

# Function words and greetings: they say nothing about which service handles a report, and
# would only add noise to the explanation a citizen reads. Compared after accent stripping.
_STOP_WORDS = """
    a ai aie aient ait alors as au aucun aucune aupres aussi autre aux avait avec avez avoir
    avons bon bonjour bonsoir c ca car ce ceci cela celle celui ces cet cette chez ci comme
    d dans de des deja depuis donc du elle elles en encore entre es est et etaient etait ete
    etre eu eux fait faut fois hello il ils j je jusqu l la le les leur leurs lui m ma madame
    mais me meme merci mes moi mon monsieur n ne ni nos notre nous on ont ou par pas peu plus
    pour pourquoi qu quand que quel quelle quelles quels qui quoi s sa salut sans se ses si
    sil soit son sont sous svp sur t ta te tes toi ton toujours tous tout toute toutes tres
    tu un une vers voici voila vos votre vous y
"""
STOP_WORDS: frozenset[str] = frozenset(_STOP_WORDS.split())


def stem(term: str) -> str:
    """Cuts the plural and feminine endings, so that forms of one word share one weight.

    `lampadaires` -> `lampadair`, `cassee` and `casse` -> `cass`, `eteints` -> `eteint`. Cruder
    than a real stemmer, on purpose: anyone can predict what it does.
    """
    if len(term) > 3 and term[-1] in "sx":
        term = term[:-1]
    while len(term) > 3 and term.endswith("e"):
        term = term[:-1]
    return term


def strip_accents(word: str) -> str:
    """`éteint` -> `eteint`, `cœur` -> `coeur`."""
    decomposed = unicodedata.normalize("NFKD", word.translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class Words:
    """The words of a text, and the terms the model sees among them."""

    count: int
    """How many words the text has, stop words included (the usage reported as input tokens)."""
    terms: tuple[str, ...]
    """Normalised terms (accents stripped, endings cut by `stem`), in text order, stop words
    and one-letter words dropped."""
    spelling: dict[str, str]
    """Each term's first spelling in the text (lowercase, accents kept), to show a reader."""


def read_words(text: str) -> Words:
    """Splits a text into words and the terms of the model's vocabulary."""
    words = _WORD.findall(text.lower())
    terms: list[str] = []
    spelling: dict[str, str] = {}
    for word in words:
        bare = strip_accents(word)
        if len(bare) < 2 or bare in STOP_WORDS:
            continue
        term = stem(bare)
        terms.append(term)
        spelling.setdefault(term, word)
    return Words(count=len(words), terms=tuple(terms), spelling=spelling)


def terms_of(text: str) -> tuple[str, ...]:
    """The model's terms of a text (see `read_words`)."""
    return read_words(text).terms
