"""Accuracy and speed of the safety prechecks (scam detector, contact verifier).

    .venv/bin/python benchmarks/bench_safety.py [--repeat N]

Prints precision / recall on tests/data/scam_labelled.jsonl and
tests/data/verify_labelled.jsonl (overall and per set: `tuning` was looked at
while writing the detectors, `holdout*` rows were written afterwards), then
p50 / p99 latency per message of `scam.detect`, `verifier.check` and both
prechecks as the router runs them, on the labelled messages and on 2000-char
adversarial inputs. The tests import `load_rows`, `evaluate_scam` and
`evaluate_verify` so the floors they assert are computed the same way.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot import scam, verifier  # noqa: E402
from bot.channels import load_registry  # noqa: E402

DATA = ROOT / "tests" / "data"


def load_rows(name: str) -> list[dict]:
    with open(DATA / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _ratio(num: int, den: int) -> float:
    return num / den if den else 1.0


def _pr(tp: int, fp: int, fn: int) -> dict:
    return {"precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn), "tp": tp, "fp": fp, "fn": fn}


def evaluate_scam(rows: list[dict]) -> dict:
    """Precision / recall of scam.detect; `misses` lists the rows it got wrong."""
    tp = fp = fn = 0
    misses = []
    for row in rows:
        fired = scam.detect(row["text"]).is_scam
        tp += fired and row["scam"]
        fp += fired and not row["scam"]
        fn += row["scam"] and not fired
        if fired != row["scam"]:
            misses.append(row["text"])
    return {**_pr(tp, fp, fn), "n": len(rows), "misses": misses}


def evaluate_verify(rows: list[dict], registry) -> dict:
    """Route precision / recall (is it a verification request), exact verdict accuracy,
    and precision / recall of lookalike naming over identifiers."""
    route = [0, 0, 0]      # tp fp fn
    lookalike = [0, 0, 0]
    exact = 0
    misses = []
    for row in rows:
        got = [v.as_dict() for v in verifier.check(row["text"], registry)]
        expect = row["expect"]
        route[0] += bool(got) and bool(expect)
        route[1] += bool(got) and not expect
        route[2] += bool(expect) and not got
        exact += got == expect
        if got != expect:
            misses.append(row["text"])
        named = {(v["identifier"], v["lookalike_of"]) for v in got if v["lookalike_of"]}
        wanted = {(v["identifier"], v["lookalike_of"]) for v in expect if v["lookalike_of"]}
        lookalike[0] += len(named & wanted)
        lookalike[1] += len(named - wanted)
        lookalike[2] += len(wanted - named)
    return {"route": _pr(*route), "lookalike": _pr(*lookalike), "exact": _ratio(exact, len(rows)),
            "n": len(rows), "misses": misses}


def _by_set(rows: list[dict]) -> dict[str, list[dict]]:
    sets = defaultdict(list)
    for row in rows:
        sets[row.get("set", "tuning")].append(row)
    return dict(sorted(sets.items()))


def _latency(func, texts: list[str], repeat: int) -> tuple[float, float]:
    for text in texts:  # warm-up: first calls pay for lazy imports and caches
        func(text)
    from bot.understanding import clear_caches

    samples = []
    for _ in range(repeat):
        clear_caches()  # each round reads the messages afresh: the bot caches its work per text
        for text in texts:
            start = time.perf_counter()
            func(text)
            samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def _adversarial() -> list[str]:
    return [
        "1" * 5000,
        "a." * 3000,
        "KF" * 2000,
        "工号1003、" * 500,
        "wallet.example.com-" * 300,
        "客服让我" * 600,
        "x@" * 2000,
        "+86 " * 1500,
        "\u0430" * 4000 + ".com",
        "微信号 abcdef " * 300,
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="passes over the messages for latency")
    args = parser.parse_args(argv)
    registry = load_registry(ROOT / "config" / "official_channels.json", ROOT / "config" / "brand.json")
    scam_rows, verify_rows = load_rows("scam_labelled.jsonl"), load_rows("verify_labelled.jsonl")

    print("scam detector (route scam_alert)")
    for name, rows in [("all", scam_rows), *_by_set(scam_rows).items()]:
        r = evaluate_scam(rows)
        print(f"  {name:<9} n={r['n']:<4} precision={r['precision']:.3f} recall={r['recall']:.3f}"
              f"  (tp={r['tp']} fp={r['fp']} fn={r['fn']})")
    hard = [r for r in scam_rows if r.get("hard_negative")]
    wrong = evaluate_scam(hard)["fp"]
    print(f"  hard negatives: {len(hard) - wrong}/{len(hard)} stay quiet")

    print("verifier (route verify)")
    for name, rows in [("all", verify_rows), *_by_set(verify_rows).items()]:
        r = evaluate_verify(rows, registry)
        print(f"  {name:<9} n={r['n']:<4} route P={r['route']['precision']:.3f} R={r['route']['recall']:.3f}"
              f"  lookalike P={r['lookalike']['precision']:.3f} R={r['lookalike']['recall']:.3f}"
              f"  exact verdicts={r['exact']:.3f}")

    from bot.safety import SafetyChecks

    class _Fixed:
        def get(self):
            return registry

    checks = SafetyChecks(_Fixed())

    def prechecks(text: str):
        return checks.scam_check(text) or checks.verify_check(text)

    from bot.router import build_router, default_prechecks
    from bot.understanding.evaluation import evaluate_safety
    from config.settings import Settings

    settings = Settings.from_env()
    router = build_router(settings, prechecks=default_prechecks(settings))
    dev = evaluate_safety(router, load_rows("dev/safety.jsonl"))
    print("the bot as deployed (learned model + rules) on the dev safety set (tests/data/dev/safety.jsonl):")
    print("  " + "\n  ".join(dev.lines()))
    print("  (the held-out safety set is scored by `python -m bot faq eval tests/data/holdout/safety.jsonl`)")
    texts = [r["text"] for r in scam_rows + verify_rows]
    print(f"latency per message, µs (p50 / p99), {len(texts)} messages x {args.repeat}")
    for name, func in (("scam.detect", scam.detect), ("verifier.check", lambda t: verifier.check(t, registry)),
                       ("both prechecks", prechecks)):
        p50, p99 = _latency(func, texts, args.repeat)
        print(f"  {name:<15} {p50:8.1f} / {p99:8.1f}")
    adversarial = _adversarial()
    print(f"adversarial inputs (up to {max(map(len, adversarial))} chars, capped at {verifier.MAX_CHARS}), µs")
    for name, func in (("scam.detect", scam.detect), ("verifier.check", lambda t: verifier.check(t, registry))):
        p50, worst = _latency(func, adversarial, max(1, args.repeat // 4))
        print(f"  {name:<15} {p50:8.1f} / {worst:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
