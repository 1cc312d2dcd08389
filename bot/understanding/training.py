"""Train the intent model from labelled examples (scikit-learn; imported only to train).

`fit()` augments the examples (`augment.variants`), trains both classifiers of
`model.IntentModel` and returns it; `bot.understanding.store` decides when a
corpus needs training and keeps the result.
"""
from __future__ import annotations

import logging
import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from threadpoolctl import threadpool_limits

from bot.understanding.augment import HomophoneTable, SynonymTable, example_rng, variants
from bot.understanding.embedder import EmbeddingCache
from bot.understanding.features import Featurizer, hashed
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
#: One-vs-rest costs intents × rows. Past this product (the shipped corpus is about 1.5 M for the fast
#: classifier, 0.3 M for the embedding one) each intent's binary fit sees its own rows, all rows of its
#: NEAREST_INTENTS most similar intents and a sample of OTHER_ROWS rows of the rest, instead of every
#: row: 1,000 intents × 20 examples retrain in under a minute, not minutes, and the shipped corpus is
#: trained exactly as before.
FULL_OVR_BUDGET = 5_000_000
NEAREST_INTENTS = 10
OTHER_ROWS = 2000
#: L-BFGS steps of the embedding classifier of such a corpus (it converges in about 100).
LARGE_EMBED_ITERATIONS = 60
#: The settings above as a stored model's fingerprint names them (bot.understanding.store.SETTINGS).
SETTINGS = f"{FAST_ALPHA}|{EMBED_C}|{MIN_DF}|{VARIANTS_PER_EXAMPLE}"


def augmented(examples: Sequence[Example], synonyms: dict | None = None, seed: int = 0) -> tuple[list[str], list[str]]:
    """Every example followed by its noisy variants, with their labels."""
    make = _variant_maker(synonyms, seed)
    texts, labels = [], []
    for example in examples:
        rendered = make(example.text)
        texts += rendered
        labels += [example.label] * len(rendered)
    return texts, labels


def _variant_maker(synonyms: dict | None, seed: int):
    """text -> [text, *its variants]: what the fast classifier learns from one example."""
    table, words = _homophones(), SynonymTable(synonyms)
    return lambda text: [text, *variants(text, example_rng(text, seed), table, VARIANTS_PER_EXAMPLE, words)]


@lru_cache(maxsize=1)
def _homophones() -> HomophoneTable:
    return HomophoneTable()


Row = tuple[np.ndarray, np.ndarray]


#: How many rows files (corpora) stay under the model folder.
ROW_FILES_KEPT = 3


class RowCache:
    """The hashed feature rows of each example and its variants, kept under var/ between trainings.

    Featurising is most of a training's time (pinyin, OpenCC and the safety rules for ~30,000
    texts), and an example's rows depend only on the example, the synonyms and the feature code
    (the `key`, from `store.fingerprint`): a retrain after an edit featurises only the new examples.
    One file per key, rows-<key>.npz; writing one deletes all but the ROW_FILES_KEPT newest.
    """

    def __init__(self, directory: str | Path | None, key: str):
        self.directory = Path(directory) if directory else None
        self.path = self.directory / f"rows-{key}.npz" if self.directory else None
        self._rows: dict[str, list[Row]] = {}
        if self.path and self.path.exists():
            try:
                self._rows = _read_rows(self.path)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("feature rows %s unreadable, featurising afresh: %s", self.path, exc)

    def rows(self, examples: Sequence[Example], synonyms: dict | None) -> list[list[Row]]:
        """Per example, the rows of the example and of its variants (the example's first)."""
        make = _variant_maker(synonyms, seed=0)
        missing = False
        out = []
        for example in examples:
            if example.text not in self._rows:
                self._rows[example.text] = [hashed(t) for t in make(example.text)]
                missing = True
            out.append(self._rows[example.text])
        if missing and self.path:
            self._save({e.text for e in examples})
        return out

    def _save(self, keep: set[str]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        texts = [t for t in self._rows if t in keep]
        rows = [row for t in texts for row in self._rows[t]]
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, texts=np.array(texts), counts=np.array([len(self._rows[t]) for t in texts], np.int32),
                 lengths=np.array([len(c) for c, _ in rows], np.int32),
                 columns=np.concatenate([c for c, _ in rows]) if rows else np.zeros(0, np.int32),
                 tf=np.concatenate([f for _, f in rows]) if rows else np.zeros(0, np.float32))
        os.replace(tmp, self.path)
        # a few other keys' files stay (newest first): another corpus trained in the same folder (a
        # staff member's copy, a test) must not cost the shipped corpus its rows
        others = sorted((p for p in self.directory.glob("rows-*.npz") if p != self.path),
                        key=lambda p: p.stat().st_mtime, reverse=True)
        for other in others[ROW_FILES_KEPT - 1:]:
            other.unlink(missing_ok=True)


def _read_rows(path: Path) -> dict[str, list[Row]]:
    with np.load(path) as data:
        texts, counts, lengths = data["texts"].tolist(), data["counts"], data["lengths"]
        columns, tf = data["columns"], data["tf"]
    ends = np.cumsum(lengths)
    flat = list(zip(np.split(columns, ends[:-1]), np.split(tf, ends[:-1]))) if len(lengths) else []
    starts = np.concatenate([[0], np.cumsum(counts)])
    return {text: flat[starts[i]:starts[i + 1]] for i, text in enumerate(texts)}


def _logistic(x, y: np.ndarray, n_labels: int, clf, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A fitted linear classifier as (coef n_labels×d, bias); an intent without examples never wins."""
    coef, bias = _untrained(n_labels, x.shape[1])
    classes = np.unique(y)
    if len(classes) < 2:          # a one-intent corpus: nothing to tell apart
        bias[classes] = 0.0
        return coef, bias
    # One BLAS thread unless told otherwise: these matrices are small, and on a busy 2-core machine
    # OpenBLAS's threads spin against each other (the embedding fit took 6.5 s with two threads, 1.1 s with one).
    with threadpool_limits(limits=threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)   # a capped fit stops early on purpose
        clf.fit(x, y)
    if len(classes) == 2:         # scikit-learn's binary form: one row for the second class
        coef[classes[1]], bias[classes[1]] = clf.coef_[0] / 2, clf.intercept_[0] / 2
        coef[classes[0]], bias[classes[0]] = -clf.coef_[0] / 2, -clf.intercept_[0] / 2
    else:
        coef[clf.classes_], bias[clf.classes_] = clf.coef_, clf.intercept_
    return coef, bias


def _fit_fast(rows: list[Row], y: np.ndarray,
              n_labels: int) -> tuple[Featurizer, np.ndarray, np.ndarray, np.ndarray]:
    """(featurizer, learnt columns, their weights columns × labels, bias) of the fast classifier."""
    featurizer = Featurizer()
    x = featurizer.fit_rows(rows)
    df = np.bincount(x.indices, minlength=x.shape[1])
    used = np.flatnonzero(df >= MIN_DF).astype(np.int32)   # the hashed columns that occur: ~3x fewer weights
    # One-vs-rest: the intents' binary fits run on every core (threads; the SGD loop releases the GIL).
    x = x[:, used]
    if _large(y):
        coef, bias = _sampled_one_vs_rest(x, y, n_labels)
    else:
        coef, bias = _logistic(x, y, n_labels, _binary_sgd(n_jobs=os.cpu_count()))
    return featurizer, used, np.ascontiguousarray(coef.T, dtype=np.float32), bias


def _sampled_one_vs_rest(x, y: np.ndarray, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest over a large corpus, each binary fit on the rows that can confuse it.

    An intent is told apart from its nearest intents (cosine of the mean feature rows) on all their
    rows, and from the rest on a fixed-size random sample; every intent sees the same number of
    sampled rows, so their scores stay comparable. The fits run in threads (the SGD loop releases
    the GIL).
    """
    from joblib import Parallel, delayed

    classes = np.unique(y)
    rows_of = {c: np.flatnonzero(y == c) for c in classes}
    similarity = _cosine_of_means(x, y, classes)
    np.fill_diagonal(similarity, -1)

    def fit_one(i: int, c: int) -> tuple[int, np.ndarray, float]:
        near = classes[np.argsort(-similarity[i])[:NEAREST_INTENTS]]
        chosen = np.concatenate([rows_of[c], *(rows_of[n] for n in near)])
        rest = np.setdiff1d(np.arange(len(y)), chosen, assume_unique=False)
        rng = np.random.default_rng(int(c))   # per intent: the same sample whatever the thread order
        sample = rng.choice(rest, size=min(OTHER_ROWS, len(rest)), replace=False) if len(rest) else rest
        picked = np.concatenate([chosen, sample])
        clf = _binary_sgd().fit(x[picked], (y[picked] == c).astype(np.int8))
        return c, clf.coef_[0], float(clf.intercept_[0])

    coef, bias = _untrained(n_labels, x.shape[1])
    with threadpool_limits(limits=1):
        fitted = Parallel(n_jobs=os.cpu_count(), prefer="threads")(delayed(fit_one)(i, c) for i, c in enumerate(classes))
    for c, weights, intercept in fitted:
        coef[c], bias[c] = weights, intercept
    return coef, bias


def _large(y: np.ndarray) -> bool:
    """A corpus whose intents × rows is past FULL_OVR_BUDGET."""
    return len(np.unique(y)) * len(y) > FULL_OVR_BUDGET


def _binary_sgd(**options) -> SGDClassifier:
    """The fast classifier's SGD (log loss; one-vs-rest when given several intents)."""
    return SGDClassifier(loss="log_loss", alpha=FAST_ALPHA, max_iter=30, tol=1e-3, random_state=0, **options)


def _untrained(n_labels: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero weights and a bias so low that an intent no fit reaches never wins."""
    return np.zeros((n_labels, width), dtype=np.float32), np.full(n_labels, -30.0, dtype=np.float32)


def _cosine_of_means(x, y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """classes × classes cosine similarity of each class's mean feature row (x: scipy sparse)."""
    from scipy import sparse

    membership = sparse.csr_matrix((np.ones(len(y), np.float32), (np.searchsorted(classes, y), np.arange(len(y)))),
                                   shape=(len(classes), len(y)))
    means = membership @ x
    norms = np.sqrt(np.asarray(means.multiply(means).sum(axis=1)).ravel())
    means = sparse.diags(1 / np.where(norms > 0, norms, 1)) @ means
    return (means @ means.T).toarray()


def _fit_embed(vectors: np.ndarray, y: np.ndarray, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    if not _large(y):
        return _logistic(vectors, y, n_labels, LogisticRegression(C=EMBED_C, max_iter=1000))
    # A large corpus: L-BFGS to convergence over 1,000 intents takes most of a minute. Its matrices
    # are big enough for BLAS threads to help, and LARGE_EMBED_ITERATIONS steps get most of the way
    # (on the shipped corpus, 60 steps: dev top-1 0.857 against 0.861 converged after 106).
    return _logistic(vectors, y, n_labels, LogisticRegression(C=EMBED_C, max_iter=LARGE_EMBED_ITERATIONS),
                     threads=os.cpu_count())


def fit(examples: Sequence[Example], embedder, cache: EmbeddingCache | None = None,
        params: Params = Params(), labels: Sequence[str] | None = None, synonyms: dict | None = None,
        rows: RowCache | None = None) -> IntentModel:
    """Train both classifiers on `examples` (labels default to those the examples use, sorted).

    `cache` and `rows` keep the examples' embeddings and feature rows between trainings (under
    var/model/ when the store trains); without them everything is computed afresh.
    """
    labels = list(labels or sorted({e.label for e in examples}))
    index = {label: i for i, label in enumerate(labels)}
    per_example = (rows or RowCache(None, "")).rows(examples, synonyms)
    y = np.array([index[e.label] for e, own in zip(examples, per_example) for _ in own])
    featurizer, columns, weights, bias = _fit_fast([r for own in per_example for r in own], y, len(labels))
    originals = [e.text for e in examples]
    encoder = cache or EmbeddingCache(embedder, None)
    vectors = encoder.encode([embed_text(t) for t in originals])
    example_labels = np.array([index[e.label] for e in examples], dtype=np.int32)
    embed_coef, embed_bias = _fit_embed(vectors, example_labels, len(labels))
    return IntentModel(labels, featurizer, columns, weights, bias, embed_coef, embed_bias, vectors,
                       example_labels, originals, embedder, params)
