"""Featurise a message for the linear classifier: character n-grams, pinyin and safety signals.

Three views of one message, hashed into one sparse vector (no vocabulary to
keep, so the fitted model is a few numpy arrays that can be memory-mapped):

* characters, 1- to 3-grams of `model_text` (with start/end marks): what the user typed;
* pinyin syllables, 1- and 2-grams of `syllables`: what it sounds like, so homophone
  typos and pinyin-only messages land on the same features as the characters;
* the safety signals of `bot.scam` (actor, request, demand, pressure, hedge and each
  demand by name): the hand-written rules become features the model weighs, not a score.

Plain functions and one small class; no I/O.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer

from bot import scam
from bot.understanding.text import model_text, syllables

N_FEATURES = 2 ** 18
CHAR_NGRAMS = (1, 2, 3)
SYLLABLE_NGRAMS = (1, 2)


@lru_cache(maxsize=8192)
def tokens(text: str) -> tuple[str, ...]:
    """Every feature name of one message (the analyzer of the hashing vectorizer)."""
    chars = model_text(text)
    out: list[str] = []
    marked = f"^{chars}$"
    for n in CHAR_NGRAMS:
        out += ["c" + marked[i:i + n] for i in range(len(marked) - n + 1) if marked[i:i + n] not in ("^", "$")]
    sounds = syllables(text)
    for n in SYLLABLE_NGRAMS:
        out += ["p" + " ".join(sounds[i:i + n]) for i in range(len(sounds) - n + 1)]
    if len(chars) <= 3:
        out.append(f"len{len(chars)}")
    result = scam.detect(text)
    for group, value in result.groups.items():
        if value:
            out += [f"g:{group}{'+' if value > 0 else '-'}"] * max(1, round(abs(value) * 4))
    out += [f"s:{name}" for name in result.signals]
    return tuple(out)


class Featurizer:
    """Text -> L2-normalised, sublinear tf-idf weighted hashed features (fitted idf kept as an array)."""

    def __init__(self, idf: np.ndarray | None = None):
        self._hasher = HashingVectorizer(analyzer=tokens, n_features=N_FEATURES, alternate_sign=False,
                                         norm=None, dtype=np.float32)
        self.idf = idf

    def _counts(self, texts) -> sparse.csr_matrix:
        matrix = self._hasher.transform(list(texts))
        matrix.data = 1.0 + np.log(matrix.data)   # sublinear tf
        return matrix

    def fit(self, texts) -> "Featurizer":
        counts = self._counts(texts)
        df = np.bincount(counts.indices, minlength=N_FEATURES).astype(np.float32)
        n = counts.shape[0]
        self.idf = (np.log((1 + n) / (1 + df)) + 1.0).astype(np.float32)
        return self

    def transform(self, texts) -> sparse.csr_matrix:
        matrix = self._counts(texts)
        matrix = matrix @ sparse.diags(np.asarray(self.idf))
        norms = np.sqrt(matrix.multiply(matrix).sum(axis=1)).A1
        norms[norms == 0] = 1.0
        return sparse.csr_matrix(sparse.diags(1.0 / norms) @ matrix, dtype=np.float32)
