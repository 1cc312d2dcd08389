"""The intent model: a linear classifier over hashed features, fused with sentence embeddings.

Two classifiers over the same intents, trained from the same examples:

* the *fast* one, multinomial logistic regression over `features.Featurizer`
  (characters, pinyin, safety signals), trained on the examples and their
  augmented variants: about a tenth of a millisecond per message;
* the *embedding* one, logistic regression over `Embedder` vectors of the
  examples: slower (one embedding, 10-20 ms) but it reads meaning, not letters.

`predict` is a cascade: when the fast classifier is sure (its calibrated top
probability reaches `params.fast_threshold`) that is the answer; otherwise the
message is embedded and the two are fused in log space
(``(1-w)·log p_fast + w·log p_embed``, divided by a temperature and
renormalised). The weights and temperatures are calibration parameters
measured on the dev set (config/understanding.json), not tuned by hand.

The fitted model is a handful of numpy arrays; `save`/`load` keep them as .npy
files that `load` memory-maps, so gunicorn workers share one copy.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from bot.understanding.features import Featurizer
from bot.understanding.text import embed_text

#: Readings kept by the LRU cache of `predict`.
CACHE_SIZE = 4096
ARRAYS = ("idf", "fast_columns", "fast_weights", "fast_bias",
          "embed_coef", "embed_bias", "example_vectors", "example_labels")


@dataclass(frozen=True)
class Params:
    """Calibration of the cascade and the fusion (measured on the dev set; see tools/calibrate.py)."""
    fast_threshold: float = 0.9
    fast_temperature: float = 1.0
    embed_weight: float = 0.5
    temperature: float = 1.0
    #: Labels the fast classifier is never trusted with alone: words it has never seen (English, rare
    #: phrasing) look out of scope to it, while the embedding still reads their meaning.
    second_opinion: tuple[str, ...] = ("out_of_scope",)

    @classmethod
    def from_dict(cls, data: dict) -> "Params":
        fields = cls.__dataclass_fields__
        values = {k: (tuple(v) if isinstance(v, list) else float(v)) for k, v in data.items() if k in fields}
        return cls(**values)


@dataclass(frozen=True)
class Reading:
    """The model's view of one message: intents with probabilities, best first."""
    labels: tuple[str, ...]
    probs: tuple[float, ...]
    #: True when the embedding was computed (the fast classifier was not sure enough alone).
    embedded: bool = False
    #: The message's embedding when computed (for nearest examples).
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def top(self) -> str:
        return self.labels[0]

    @property
    def confidence(self) -> float:
        return self.probs[0]

    def prob(self, label: str) -> float:
        try:
            return self.probs[self.labels.index(label)]
        except ValueError:
            return 0.0

    def ranked(self, keep=None, limit: int = 5) -> list[tuple[str, float]]:
        pairs = zip(self.labels, self.probs)
        return [(l, p) for l, p in pairs if keep is None or keep(l)][:limit]


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


class IntentModel:
    def __init__(self, labels, featurizer: Featurizer, fast_columns: np.ndarray, fast_weights: np.ndarray,
                 fast_bias: np.ndarray, embed_coef: np.ndarray, embed_bias: np.ndarray,
                 example_vectors: np.ndarray, example_labels: np.ndarray, example_texts, embedder,
                 params: Params = Params()):
        self.labels = tuple(labels)
        self.featurizer = featurizer
        #: The fast classifier: weights (len(fast_columns) × labels) of the hashed columns it learnt, sorted.
        self.fast_columns, self.fast_weights, self.fast_bias = fast_columns, fast_weights, fast_bias
        self.embed_coef, self.embed_bias = embed_coef, embed_bias
        self.example_vectors, self.example_labels = example_vectors, example_labels
        self.example_texts = tuple(example_texts)
        self.embedder = embedder
        self.params = params
        #: Readings of recent messages (keyed by the exact text): repeats and retries cost nothing.
        self._cached = lru_cache(maxsize=CACHE_SIZE)(self._predict)

    # --- prediction -------------------------------------------------------------------------
    def fast_log_probs(self, text: str) -> np.ndarray:
        columns, weights = self.featurizer.vector(text)
        at = np.searchsorted(self.fast_columns, columns)
        at = np.minimum(at, len(self.fast_columns) - 1)
        known = self.fast_columns[at] == columns
        z = weights[known] @ self.fast_weights[at[known]] + self.fast_bias
        return _log_softmax(z / self.params.fast_temperature)

    def embed(self, text: str) -> np.ndarray:
        return self.embedder.encode([embed_text(text)])[0]

    def embed_log_probs(self, vector: np.ndarray) -> np.ndarray:
        return _log_softmax(self.embed_coef @ vector + self.embed_bias)

    def predict(self, text: str, embed: bool | None = None) -> Reading:
        """The cascade; `embed=True/False` forces or skips the embedding (benchmarks, calibration)."""
        return self._cached(text, embed)

    def _predict(self, text: str, embed: bool | None) -> Reading:
        fast = self.fast_log_probs(text)
        sure = (np.exp(fast.max()) >= self.params.fast_threshold
                and self.labels[int(fast.argmax())] not in self.params.second_opinion)
        if embed is False or (embed is None and sure):
            return self._reading(np.exp(fast), embedded=False)
        vector = self.embed(text)
        return self._reading(self.fuse(fast, self.embed_log_probs(vector)), embedded=True, vector=vector)

    def fuse(self, fast: np.ndarray, embedded: np.ndarray) -> np.ndarray:
        w = self.params.embed_weight
        # fast was divided by fast_temperature; undo it so the fusion's own temperature applies to raw logits.
        z = ((1 - w) * fast * self.params.fast_temperature + w * embedded) / self.params.temperature
        return np.exp(_log_softmax(z))

    def _reading(self, probs: np.ndarray, embedded: bool, vector=None) -> Reading:
        order = np.argsort(-probs)
        return Reading(tuple(self.labels[i] for i in order), tuple(float(probs[i]) for i in order),
                       embedded, vector)

    def nearest(self, vector: np.ndarray, k: int = 3, label: str | None = None) -> list[tuple[str, str, float]]:
        """The k examples closest to `vector` (text, intent, cosine), optionally of one intent."""
        sims = self.example_vectors @ vector
        if label is not None:
            mask = self.example_labels == self.labels.index(label)
            sims = np.where(mask, sims, -2.0)
        best = np.argsort(-sims)[:k]
        return [(self.example_texts[i], self.labels[self.example_labels[i]], float(sims[i]))
                for i in best if sims[i] > -2.0]

    # --- persistence ---------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {"idf": self.featurizer.idf, "fast_columns": self.fast_columns, "fast_weights": self.fast_weights,
                  "fast_bias": self.fast_bias, "embed_coef": self.embed_coef, "embed_bias": self.embed_bias,
                  "example_vectors": self.example_vectors, "example_labels": self.example_labels}
        for name, array in arrays.items():
            np.save(directory / f"{name}.npy", np.ascontiguousarray(array))
        meta = {"labels": list(self.labels), "example_texts": list(self.example_texts)}
        (directory / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, embedder, params: Params = Params()) -> "IntentModel":
        a = {name: np.load(directory / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        return cls(meta["labels"], Featurizer(a["idf"]), a["fast_columns"], a["fast_weights"],
                   np.asarray(a["fast_bias"]),
                   a["embed_coef"], np.asarray(a["embed_bias"]), a["example_vectors"],
                   np.asarray(a["example_labels"]), meta["example_texts"], embedder, params)
