"""Figures for the understanding model: latency, the accuracy/CPU trade-off, training time, memory.

    .venv/bin/python benchmarks/bench_understanding.py [--quick]
    BOT_EMBEDDER=use BOT_UNDERSTANDING_FILE=config/understanding-use.json .venv/bin/python benchmarks/bench_understanding.py

Prints, on this machine, in one run:

* latency per message on unique messages (the LRU cache never hits): p50 / p99 / mean for the
  fast classifier alone, the embedding alone, the fusion always, and the shipped cascade;
* the trade-off curve: top-1 intent accuracy on the dev set (tests/data/dev, the calibration set;
  the held-out set is scored by `python -m bot faq eval`, once per change) against CPU per message,
  for each model choice;
* training time for the shipped corpus: cold (no embedding cached), warm (embeddings cached, what a
  hot reload after an edit costs) and loading a stored model (what a gunicorn worker does);
  and for a synthetic corpus of 1,000 entries × 20 examples: a retrain after an edit (feature rows and
  embeddings cached) and a cold one, the embedding of every example extrapolated from the measured
  per-example cost (a stand-in embedder takes its place, so the classifiers' fits cost what they would);
* memory of one worker, in a fresh process: RSS growth from reading messages with the model, of which
  the private anonymous part is what each gunicorn worker adds, the rest being the memory-mapped model
  and e5 weights that all workers share in the page cache.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")


class _CharacterEmbedder:
    """A stand-in for the sentence embedder at scale: hashed characters, 384 dimensions, unit rows
    (similar texts get similar vectors, so the embedding classifier's fit costs what it would)."""
    name, dim = "characters", 384

    def encode(self, texts):
        import numpy as np
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for char in text:
                out[row, ord(char) * 2654435761 % self.dim] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def memory_mb() -> dict[str, int]:
    """RSS, PSS and anonymous (private, never shared) memory of this process in MB, from /proc."""
    out = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        name = line.split(":")[0]
        if name in ("Rss", "Pss", "Anonymous"):
            out[name] = int(line.split()[1]) // 1024
    return out


def memory_probe(mode: str) -> None:
    """One worker's memory: the corpus loaded, then (unless mode is none) the model reading every dev message."""
    import json

    from bot.faq import load_corpus
    from bot.understanding.evaluation import read_rows

    corpus = load_corpus(ROOT / "faq_data", ROOT / "config" / "brand.json")
    before = memory_mb()
    if mode != "none":
        for row in read_rows(ROOT / "tests/data/dev/routing.jsonl") + read_rows(ROOT / "tests/data/dev/safety.jsonl"):
            corpus.model.predict(row["text"], embed=None if mode == "cascade" else True)
    print(json.dumps({"before": before, "after": memory_mb(), "heavy": [m for m in ("sklearn", "scipy")
                                                                          if m in sys.modules]}))


def memory_report() -> None:
    import json
    import subprocess

    print("\n== memory of one worker (a fresh process: the corpus loaded, then every dev message read) ==")
    for mode in ("cascade", "always"):
        done = subprocess.run([sys.executable, __file__, "--memory-probe", mode], capture_output=True, text=True,
                              timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
        data = json.loads(done.stdout.strip().splitlines()[-1])
        b, a = data["before"], data["after"]
        print(f"{mode:<8} RSS {b['Rss']} → {a['Rss']} MB (+{a['Rss'] - b['Rss']}); private anonymous "
              f"+{a['Anonymous'] - b['Anonymous']} MB; the rest of the growth is the memory-mapped model and "
              f"e5 weights, one copy in the page cache for all workers; scikit-learn/scipy loaded: {data['heavy'] or 'no'}")


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"p50 {p(0.50):6.2f} ms   p99 {p(0.99):6.2f} ms   mean {statistics.mean(ordered) * 1000:6.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the cold and 1,000-entry training runs")
    parser.add_argument("--memory-probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        memory_probe(args.memory_probe)
        return 0

    from bot.faq import load_corpus
    from bot.understanding import clear_caches, default_store, examples_of
    from bot.understanding.evaluation import labelled_texts
    from bot.understanding.embedder import EmbeddingCache
    from bot.understanding.store import Example, ModelStore, fingerprint
    from bot.understanding.training import RowCache, fit

    corpus = load_corpus(ROOT / "faq_data", ROOT / "config" / "brand.json", strict=True)
    started = time.perf_counter()
    model = default_store().model_for(corpus)
    load_seconds = time.perf_counter() - started

    dev = ROOT / "tests" / "data" / "dev"
    texts, labels = labelled_texts([dev / "routing.jsonl", dev / "safety.jsonl"], model.labels)
    unique = [f"{t}" for t in texts]
    print(f"== latency per message, {len(unique)} unique dev messages, one thread ==")
    results = {}
    for name, embed in (("fast classifier alone", False), ("embedding + fusion always", True),
                        ("shipped cascade", None)):
        model._cached.cache_clear()
        clear_caches()
        samples, right, embedded = [], 0, 0
        cpu0 = time.process_time()
        for text, label in zip(unique, labels):
            t0 = time.perf_counter()
            reading = model.predict(text, embed=embed)
            samples.append(time.perf_counter() - t0)
            right += reading.top == label
            embedded += reading.embedded
        cpu = (time.process_time() - cpu0) / len(unique)
        results[name] = (right / len(unique), cpu)
        print(f"{name:<28} {percentiles(samples)}   embedded {embedded / len(unique):5.1%}")
    vectors_cpu0 = time.process_time()
    vectors = [model.embed(t) for t in unique[:200]]
    embed_cost = (time.process_time() - vectors_cpu0) / 200
    right = sum(model._reading(__import__("numpy").exp(model.embed_log_probs(v)), True).top == l
                for v, l in zip(vectors, labels[:200]))
    results["embedding classifier alone"] = (right / 200, embed_cost)

    print("\n== accuracy against CPU per message (dev set, top-1 intent) ==")
    for name, (accuracy, cpu) in sorted(results.items(), key=lambda kv: kv[1][1]):
        print(f"{name:<28} top-1 {accuracy:.3f}   CPU {cpu * 1000:6.2f} ms/message")

    print("\n== training ==")
    examples = examples_of(corpus)
    print(f"shipped corpus: {len(examples)} examples, {len(model.labels)} intents")
    print(f"load a stored model (what each worker does): {load_seconds * 1000:.0f} ms")
    embedder = model.embedder   # BOT_EMBEDDER's: e5 (shipped) or use
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(default_store().store.directory)
        cache = EmbeddingCache(embedder, directory)
        rows_key = fingerprint((), "rows", corpus.synonyms)
        edited = examples[:-1] + [Example("刚加的一个例句：提现申请了三天还没到账是怎么回事", examples[-1].label)]
        for name, run in (("warm retrain after an edit (embeddings and feature rows cached)", edited),
                          ("the same again (nothing new to embed or featurise)", edited)):
            t0 = time.perf_counter()
            fit(run, embedder, cache, model.params, model.labels, corpus.synonyms, RowCache(directory, rows_key))
            print(f"{name}: {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        fit(examples, embedder, cache, model.params, model.labels, corpus.synonyms, RowCache(tmp, rows_key))
        print(f"feature rows cold (every example augmented and featurised, embeddings cached): "
              f"{time.perf_counter() - t0:.1f} s")
        if not args.quick:
            t0 = time.perf_counter()
            ModelStore(tmp, embedder, model.params).get(examples, model.labels)
            print(f"cold train (nothing cached: every example embedded): {time.perf_counter() - t0:.1f} s")
    if not args.quick:
        from tests.data.faq_support import synthetic_entries
        import random
        rng = random.Random(5)
        big = []
        for item in synthetic_entries(1000):
            base = [item["question"], *item["similar_questions"], *item["keywords"]]
            big += [Example(f"{rng.choice(('请问', '我想问', '', '那个'))}{rng.choice(base)}{suffix}", item["id"])
                    for suffix in ("", "？", "啊", "呢", "怎么办", "急", "。", "吗", "了", "!!",
                                   "谢谢", "在吗", "求助", "请回答", "咋整", "呀", "哦", "嘛", "？？", "…")]
        big = list({e.text: e for e in big}.values())
        stand_in = _CharacterEmbedder()   # the real embedder's cost is measured above and extrapolated
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            fit(big, stand_in, EmbeddingCache(stand_in, tmp), rows=RowCache(tmp, "scale"))
            cold = time.perf_counter() - t0
            edited = big[:-1] + [Example("刚加的一个例句：这个页面一直打不开怎么办", big[-1].label)]
            t0 = time.perf_counter()
            fit(edited, stand_in, EmbeddingCache(stand_in, tmp), rows=RowCache(tmp, "scale"))
            warm = time.perf_counter() - t0
        print(f"1,000 entries, {len(big)} examples: retrain after an edit {warm:.1f} s (feature rows and "
              f"embeddings cached); cold {cold:.1f} s plus embedding every example once, "
              f"{len(big) * embed_cost:.0f} s at {embed_cost * 1000:.1f} ms each")

    memory_report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
