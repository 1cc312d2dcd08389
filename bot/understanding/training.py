"""Train the intent model from labelled examples (scikit-learn; imported only to train).

`fit()` augments the examples (`augment.variants`), trains both classifiers of
`model.IntentModel` and returns it; `bot.understanding.store` decides when a
corpus needs training and keeps the result.
"""
from __future__ import annotations

import logging
import random
from typing import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression, SGDClassifier
from threadpoolctl import threadpool_limits

from bot.understanding.augment import HomophoneTable, SynonymTable, variants
from bot.understanding.embedder import EmbeddingCache
from bot.understanding.features import Featurizer
from bot.understanding.model import IntentModel, Params
from bot.understanding.store import Example
from bot.understanding.text import embed_text

log = logging.getLogger(__name__)

#: Noisy variants made per example for the fast classifier.
VARIANTS_PER_EXAMPLE = 3
#: Regularisation of the two classifiers: the fast one is fitted by SGD on the log loss (one-vs-rest:
#: 1.5 s on the shipped corpus where full multinomial L-BFGS took 85 s for the same dev accuracy,
#: 0.906 against 0.909), the embedding one by L-BFGS (384 dense columns: 2 s).
FAST_ALPHA = 1e-5
EMBED_C = 8.0
#: Hashed features seen in fewer examples than this are dropped (a fifth of the columns, no accuracy lost).
MIN_DF = 2
#: The settings above as a stored model's fingerprint names them (bot.understanding.store.SETTINGS).
SETTINGS = f"{FAST_ALPHA}|{EMBED_C}|{MIN_DF}|{VARIANTS_PER_EXAMPLE}"


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
    # One BLAS thread: these matrices are small, and on a busy 2-core machine OpenBLAS's threads
    # spin against each other (the embedding fit took 6.5 s with two threads, 1.1 s with one).
    with threadpool_limits(limits=1):
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
    featurizer = Featurizer()
    x = featurizer.fit_transform(texts)
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


