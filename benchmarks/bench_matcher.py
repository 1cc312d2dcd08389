"""Figures for the FAQ matcher: accuracy against the console's keyword auto-reply, latency, memory.

    .venv/bin/python benchmarks/bench_matcher.py [--size 10000] [--rounds 3]

Prints, for the labelled messages (tests/data/labelled_messages.jsonl):
top-1 accuracy and confident-wrong rate of the router and of a plain
keyword-contains matcher over the same keywords (WeChat console auto-reply);
then, for the shipped corpus and for the shipped corpus plus a generated one
of --size entries: build time, memory (tracemalloc) and match latency p50/p99,
cold (every cache cleared before each message) and warm.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.faq import Corpus, FaqEntry, collect, read_brand  # noqa: E402
from bot.normalize import clear_caches  # noqa: E402
from bot.router import Router  # noqa: E402
from tests.data.faq_support import (SHIPPED_BRAND, SHIPPED_FAQ, evaluate, keyword_contains_predictor,  # noqa: E402
                                    load_labelled, router_predictor, synthetic_entries)


def build(extra: int) -> tuple[Corpus, float, int]:
    """The corpus (shipped + `extra` generated entries), seconds to build it, bytes it holds.

    Built twice: once timed, once under tracemalloc (which slows building down)."""
    brand = read_brand(SHIPPED_BRAND)
    entries, synonyms, _ = collect(SHIPPED_FAQ, brand)
    entries += [FaqEntry.from_dict(data) for data in synthetic_entries(extra)] if extra else []
    clear_caches()
    started = time.perf_counter()
    Corpus(entries, synonyms, brand)
    seconds = time.perf_counter() - started
    clear_caches()
    tracemalloc.start()
    corpus = Corpus(entries, synonyms, brand)
    clear_caches()  # what stays allocated is the corpus itself, not the text caches
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return corpus, seconds, size


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def latencies(call, texts: list[str], rounds: int, cold: bool) -> list[float]:
    out = []
    for _ in range(rounds):
        for text in texts:
            if cold:
                clear_caches()
            started = time.perf_counter()
            call(text)
            out.append((time.perf_counter() - started) * 1000)
    return out


def accuracy_report(corpus: Corpus, title: str) -> None:
    rows = load_labelled()
    ours = router_predictor(Router(lambda: corpus, corpus.brand))
    console = keyword_contains_predictor(e for e in corpus.entries.values() if not e.id.startswith("gen_"))
    print(f"\n== accuracy: {title} ==")
    for split in (None, "dev", "holdout"):
        subset = [r for r in rows if split is None or r["split"] == split]
        name = split or "all"
        print(evaluate(ours, subset).line(f"router [{name}]"))
        print(evaluate(console, subset).line(f"keyword-contains [{name}]"))


def speed_report(corpus: Corpus, seconds: float, size: int, rounds: int, title: str) -> None:
    texts = [r["text"] for r in load_labelled()]
    router = Router(lambda: corpus, corpus.brand)
    print(f"\n== speed and memory: {title} ({len(corpus)} entries, "
          f"{len(corpus.matcher._choice_texts)} questions) ==")
    print(f"build {seconds:.2f} s   corpus memory {size / 2**20:.1f} MiB (tracemalloc)")
    for name, call in (("match", corpus.match), ("route", lambda t: router.route(t))):
        for cold in (True, False):
            ms = latencies(call, texts, 1 if cold else rounds, cold)
            label = "cold" if cold else "warm"
            print(f"{name:<5} {label}: p50 {percentile(ms, 0.5):.3f} ms  p99 {percentile(ms, 0.99):.3f} ms  "
                  f"max {max(ms):.3f} ms  mean {statistics.fmean(ms):.3f} ms  (n={len(ms)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10_000, help="generated entries for the large corpus")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the messages for warm figures")
    args = parser.parse_args()

    shipped, seconds, size = build(0)
    accuracy_report(shipped, "shipped corpus")
    speed_report(shipped, seconds, size, args.rounds, "shipped corpus")

    large, seconds, size = build(args.size)
    accuracy_report(large, f"shipped + {args.size} generated entries")
    speed_report(large, seconds, size, args.rounds, f"shipped + {args.size} generated")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nprocess peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
