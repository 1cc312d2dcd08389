"""Where trained models live: one folder per corpus version under var/model/, memory-mapped.

`examples_of(corpus)` lists what staff wrote: every FAQ entry's question,
similar questions, keywords and examples, every other intent's examples
(handoff, greetings, out-of-scope, follow-up, scam, victim) and the labelled
hard negatives. `ModelStore.get(examples)` is what the app calls at load and
at every hot reload: the model is kept under var/model/<fingerprint>/, keyed by
a hash of the examples, the synonyms, the training settings and the embedder,
so a gunicorn worker (or a restart) that finds it there memory-maps it instead
of training, and a file lock makes the first process train while the others
wait for it. Training itself (`bot.understanding.training`, scikit-learn) is
imported only when a corpus has no stored model yet: serving never loads it.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from bot import scam
from bot.understanding.embedder import EmbeddingCache
from bot.understanding.model import IntentModel, Params

log = logging.getLogger(__name__)

#: Bump when features, augmentation or training change: stored models of older versions are not reused.
VERSION = "10"
#: The training settings a fingerprint covers (kept equal to bot.understanding.training's by a test).
SETTINGS = "1e-05|8.0|2|3"
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
    digest = hashlib.sha256(f"{VERSION}|{embedder_name}|{SETTINGS}".encode())
    for signal in scam.SIGNALS:  # the safety signals are features: editing one retrains
        digest.update(f"\x00{signal.name}|{signal.group}|{signal.weight}|{signal.pattern.pattern}".encode("utf-8"))
    digest.update(json.dumps(synonyms or {}, ensure_ascii=False, sort_keys=True).encode("utf-8"))
    for example in examples:
        digest.update(f"\x00{example.label}\x01{example.text}".encode("utf-8"))
    return digest.hexdigest()[:20]


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
                from bot.understanding.training import RowCache, fit

                rows = RowCache(self.directory, fingerprint((), "rows", synonyms))
                model = fit(examples, self.embedder, EmbeddingCache(self.embedder, self.directory), self.params,
                            labels, synonyms, rows)
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
