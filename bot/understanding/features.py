"""Featurise a message for the linear classifier: character n-grams, pinyin and safety signals.

Three views of one message, hashed into one sparse vector (no vocabulary to
keep, so the fitted model is a few numpy arrays that can be memory-mapped):

* characters, 1- to 3-grams of `model_text` (with start/end marks): what the user typed;
* pinyin syllables, 1- and 2-grams of `syllables`: what it sounds like, so homophone
  typos and pinyin-only messages land on the same features as the characters;
* the safety signals of `bot.scam` (actor, request, demand, pressure, hedge and each
  demand by name): the hand-written rules become features the model weighs, not a score.

Plain functions and one small class; no I/O. Columns are CRC-32 of the feature names (zlib: no scikit-learn or scipy import when serving), so the
fitted model keeps no vocabulary: a few numpy arrays that can be memory-mapped.
"""
from __future__ import annotations

from functools import lru_cache

import zlib

import numpy as np

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


@lru_cache(maxsize=8192)
def hashed(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(feature columns, sublinear tf) of one message: CRC-32 of each token, modulo N_FEATURES."""
    counts: dict[int, int] = {}
    for token in tokens(text):
        column = zlib.crc32(token.encode("utf-8")) % N_FEATURES
        counts[column] = counts.get(column, 0) + 1
    columns = np.fromiter(counts, dtype=np.int32, count=len(counts))
    tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))
    order = np.argsort(columns)
    return columns[order], tf[order].astype(np.float32)


class Featurizer:
    """Text -> L2-normalised, sublinear tf-idf weighted hashed features (the fitted idf is one array).

    `vector(text)` is the one-message path the bot runs (a few dozen columns, no sparse-matrix
    machinery); `transform(texts)` builds the training matrix from the same columns and weights.
    """

    def __init__(self, idf: np.ndarray | None = None):
        self.idf = idf

    def fit(self, texts) -> "Featurizer":
        self.fit_transform(texts)
        return self

    def fit_transform(self, texts):
        """Fit the idf on `texts` and return their training matrix (each text featurised once)."""
        return self.fit_rows([hashed(text) for text in texts])

    def fit_rows(self, rows: list[tuple[np.ndarray, np.ndarray]]):
        """`fit_transform` of texts already `hashed` (training keeps their rows between runs)."""
        df = np.zeros(N_FEATURES, dtype=np.float32)
        for columns, _ in rows:
            df[columns] += 1
        self.idf = (np.log((1 + len(rows)) / (1 + df)) + 1.0).astype(np.float32)
        x = _matrix(rows)   # tf, weighed and normalised below as `_weigh` does one row
        x.data *= self.idf[x.indices]
        row_of = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
        norms = np.sqrt(np.bincount(row_of, weights=x.data.astype(np.float64) ** 2, minlength=x.shape[0]))
        x.data /= np.where(norms > 0, norms, 1.0)[row_of].astype(np.float32)
        return x

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(columns, weights) of one message, L2-normalised."""
        return self._weigh(*hashed(text))

    def _weigh(self, columns: np.ndarray, tf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        weights = tf * self.idf[columns]
        norm = float(np.sqrt(weights @ weights))
        return columns, (weights / norm if norm else weights)

    def transform(self, texts):
        """The training matrix (scipy CSR, imported here: the bot itself never needs scipy)."""
        return _matrix([self.vector(text) for text in texts])


def _matrix(rows: list[tuple[np.ndarray, np.ndarray]]):
    """Rows of (columns, weights) as a scipy CSR matrix (scipy imported here: training only)."""
    from scipy import sparse

    indptr = np.cumsum([0] + [len(c) for c, _ in rows])
    indices = np.concatenate([c for c, _ in rows]) if rows else np.zeros(0, np.int32)
    data = np.concatenate([w for _, w in rows]) if rows else np.zeros(0, np.float32)
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), N_FEATURES), dtype=np.float32)
