"""Train the intent model from the corpus, or load the one already trained for it.

`examples_of(corpus)` lists what staff wrote: every FAQ entry's question,
similar questions, keywords and examples, every other intent's examples
(handoff, greetings, out-of-scope, scam, victim) and the labelled hard
negatives. `fit()` augments them (`augment.variants`), trains both
classifiers of `model.IntentModel`, and returns it.

`ModelStore.get(examples)` is what the app calls at load and at every hot
reload: the model is kept under var/model/<hash>/, keyed by a hash of the
examples, the featurizer version and the embedder, so a gunicorn worker (or a
restart) that finds it there memory-maps it instead of training, and a file
lock makes the first worker train while the others wait for it.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression, SGDClassifier

from bot.understanding.augment import HomophoneTable, SynonymTable, variants
from bot.understanding.embedder import EmbeddingCache
from bot.understanding.features import Featurizer
from bot.understanding.model import IntentModel, Params
from bot.understanding.text import embed_text

log = logging.getLogger(__name__)

#: Bump when features, augmentation or training change: stored models of older versions are not reused.
VERSION = "4"
#: Noisy variants made per example for the fast classifier.
VARIANTS_PER_EXAMPLE = 3
#: Regularisation of the two classifiers: the fast one is fitted by SGD on the log loss (one-vs-rest:
#: 1.5 s on the shipped corpus where full multinomial L-BFGS took 85 s for the same dev accuracy,
#: 0.906 against 0.909), the embedding one by L-BFGS (384 dense columns: 2 s).
FAST_ALPHA = 1e-5
EMBED_C = 8.0
#: Hashed features seen in fewer examples than this are dropped (a fifth of the columns, no accuracy lost).
MIN_DF = 2
#: Stored models kept besides the one in use, the most recently used first (older ones are deleted).
KEEP_MODELS = 12


@dataclass(frozen=True)
class Example:
    text: str
    label: str


def examples_of(corpus) -> list[Example]:
    """Every labelled text the corpus holds, de-duplicated (first label wins; `faq check` flags clashes)."""
    seen: set[str] = set()
    out: list[Example] = []
    for text, label in corpus.labelled_texts():
        key = text.strip()
        if key and key not in seen:
            seen.add(key)
            out.append(Example(key, label))
    return out


def fingerprint(examples: Sequence[Example], embedder_name: str, synonyms: dict | None = None) -> str:
    digest = hashlib.sha256(f"{VERSION}|{embedder_name}|{FAST_ALPHA}|{EMBED_C}|{MIN_DF}|{VARIANTS_PER_EXAMPLE}".encode())
    digest.update(json.dumps(synonyms or {}, ensure_ascii=False, sort_keys=True).encode("utf-8"))
    for example in examples:
        digest.update(f"\x00{example.label}\x01{example.text}".encode("utf-8"))
    return digest.hexdigest()[:20]


def augmented(examples: Sequence[Example], synonyms: dict | None = None, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    table = HomophoneTable(e.text for e in examples)
    words = SynonymTable(synonyms)
    texts, labels = [], []
    for example in examples:
        texts.append(example.text)
        labels.append(example.label)
        for variant in variants(example.text, rng, table, VARIANTS_PER_EXAMPLE, words):
            texts.append(variant)
            labels.append(example.label)
    return texts, labels


def _logistic(x, y: np.ndarray, n_labels: int, clf) -> tuple[np.ndarray, np.ndarray]:
    """A fitted linear classifier as (coef n_labels×d, bias); an intent without examples never wins."""
    coef = np.zeros((n_labels, x.shape[1]), dtype=np.float32)
    bias = np.full(n_labels, -30.0, dtype=np.float32)
    classes = np.unique(y)
    if len(classes) < 2:          # a one-intent corpus: nothing to tell apart
        bias[classes] = 0.0
        return coef, bias
    clf.fit(x, y)
    if len(classes) == 2:         # scikit-learn's binary form: one row for the second class
        coef[classes[1]], bias[classes[1]] = clf.coef_[0] / 2, clf.intercept_[0] / 2
        coef[classes[0]], bias[classes[0]] = -clf.coef_[0] / 2, -clf.intercept_[0] / 2
    else:
        coef[clf.classes_], bias[clf.classes_] = clf.coef_, clf.intercept_
    return coef, bias


def _fit_fast(texts: list[str], y: np.ndarray,
              n_labels: int) -> tuple[Featurizer, np.ndarray, np.ndarray, np.ndarray]:
    """(featurizer, learnt columns, their weights columns × labels, bias) of the fast classifier."""
    featurizer = Featurizer().fit(texts)
    x = featurizer.transform(texts)
    df = np.bincount(x.indices, minlength=x.shape[1])
    used = np.flatnonzero(df >= MIN_DF).astype(np.int32)   # the hashed columns that occur: ~3x fewer weights
    clf = SGDClassifier(loss="log_loss", alpha=FAST_ALPHA, max_iter=30, tol=1e-3, random_state=0)
    coef, bias = _logistic(x[:, used], y, n_labels, clf)
    return featurizer, used, np.ascontiguousarray(coef.T, dtype=np.float32), bias


def _fit_embed(vectors: np.ndarray, y: np.ndarray, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    return _logistic(vectors, y, n_labels, LogisticRegression(C=EMBED_C, max_iter=1000))


def fit(examples: Sequence[Example], embedder, cache: EmbeddingCache | None = None,
        params: Params = Params(), labels: Sequence[str] | None = None, synonyms: dict | None = None) -> IntentModel:
    """Train both classifiers on `examples` (labels default to those the examples use, sorted)."""
    labels = list(labels or sorted({e.label for e in examples}))
    index = {label: i for i, label in enumerate(labels)}
    texts, text_labels = augmented(examples, synonyms)
    y = np.array([index[l] for l in text_labels])
    featurizer, columns, weights, bias = _fit_fast(texts, y, len(labels))
    originals = [e.text for e in examples]
    encoder = cache or EmbeddingCache(embedder, None)
    vectors = encoder.encode([embed_text(t) for t in originals])
    example_labels = np.array([index[e.label] for e in examples], dtype=np.int32)
    embed_coef, embed_bias = _fit_embed(vectors, example_labels, len(labels))
    return IntentModel(labels, featurizer, columns, weights, bias, embed_coef, embed_bias, vectors,
                       example_labels, originals, embedder, params)


class ModelStore:
    """Trained models under `directory`, one folder per fingerprint; trains at most once per corpus."""

    def __init__(self, directory: str | Path, embedder, params: Params = Params()):
        self.directory = Path(directory)
        self.embedder = embedder
        self.params = params

    def get(self, examples: Sequence[Example], labels: Sequence[str] | None = None,
            synonyms: dict | None = None) -> IntentModel:
        key = fingerprint(examples, self.embedder.name, synonyms)
        target = self.directory / key
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)   # one trainer; the others then load what it saved
            if not (target / "meta.json").exists():
                started = time.perf_counter()
                model = fit(examples, self.embedder, EmbeddingCache(self.embedder, self.directory), self.params,
                            labels, synonyms)
                tmp = self.directory / f".{key}.tmp"
                shutil.rmtree(tmp, ignore_errors=True)
                model.save(tmp)
                tmp.rename(target)
                log.info("intent model trained on %d examples in %.1f s", len(examples),
                         time.perf_counter() - started)
                self._prune(keep=key)
            os.utime(target)   # recently used: kept by _prune
            return IntentModel.load(target, self.embedder, self.params)

    def _prune(self, keep: str) -> None:
        folders = sorted((p for p in self.directory.iterdir() if p.is_dir() and not p.name.startswith(".")),
                         key=lambda p: p.stat().st_mtime, reverse=True)
        for old in [p for p in folders if p.name != keep][KEEP_MODELS:]:
            shutil.rmtree(old, ignore_errors=True)
