"""Calibrate the intent model and the reply policy on the dev set; write BOT_UNDERSTANDING_FILE.

    .venv/bin/python tools/calibrate.py            # measure, print the curves, write the file
    .venv/bin/python tools/calibrate.py --dry-run  # measure and print only
    BOT_EMBEDDER=use BOT_UNDERSTANDING_FILE=config/understanding-use.json .venv/bin/python tools/calibrate.py

Each embedder has a calibration of its own: config/understanding.json is e5's (the shipped
one), config/understanding-use.json the USE embedder's.

Reads tests/data/dev/routing.jsonl and tests/data/dev/safety.jsonl (never the held-out
set) and measures, on the shipped corpus's model:

* the temperature of the fast classifier and the fusion weight and temperature of the
  embedding classifier (lowest negative log-likelihood);
* the cascade's `fast_threshold`: the lowest fast-classifier confidence at which its
  answers on dev are as right as the fused ones (so skipping the embedding costs nothing);
* the policy thresholds: `confident` where answered FAQ messages are right at least
  ANSWER_PRECISION of the time, `plausible` for the one-candidate answer with an offer,
  `route_floor` for handoff/greeting/out-of-scope;
* the scam threshold: the lowest (most scams caught) whose precision on dev is still
  SCAM_PRECISION; a miss costs a user their savings, a false alarm one sentence, so
  recall is what the threshold buys and precision the floor it must keep. Should no
  threshold keep that floor, the highest that keeps recall at SCAM_RECALL.

Prints each curve so the trade-off is visible.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.faq import load_corpus  # noqa: E402
from bot.router import Router, default_prechecks  # noqa: E402
from bot.understanding.evaluation import evaluate, labelled_texts, read_rows  # noqa: E402
from bot.understanding.model import Params  # noqa: E402
from config.settings import Settings  # noqa: E402
from bot.understanding.text import embed_text  # noqa: E402

DEV = ROOT / "tests" / "data" / "dev"
ANSWER_PRECISION = 0.97
SCAM_RECALL = 0.98
SCAM_PRECISION = 0.975
CONFIDENT_WRONG = 0.02
def softmax_rows(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-9, 1)).mean())


def best_plausible(corpus, config: dict) -> float:
    """The one-candidate floor with the best route+FAQ accuracy on dev, end to end through the router
    (confident-wrong at most CONFIDENT_WRONG; a tie goes to the higher, more careful floor)."""
    rows = read_rows(DEV / "routing.jsonl") + read_rows(DEV / "safety.jsonl")
    prechecks = default_prechecks(Settings.from_env())
    print("\nthe one-candidate floor, end to end on dev: route+FAQ accuracy / confident-wrong / wrong with the offer")
    best = None
    for plausible in (0.65, 0.5, 0.4, 0.3):
        trial = {**config, "policy": {**config["policy"], "plausible": plausible}}
        report = evaluate(Router(lambda: corpus, corpus.brand, prechecks, config=trial), rows)
        print(f"  {plausible:.2f}  {report.accuracy:.3f}  {report.confident_wrong_rate:.3f}  {report.hedged_wrong}")
        if report.confident_wrong_rate <= CONFIDENT_WRONG and (best is None or report.accuracy > best[1]):
            best = (plausible, report.accuracy)
    return best[0] if best else 0.65


def cheapest_second_opinion(corpus, config: dict) -> list[str]:
    """Whether an out-of-scope verdict of the fast classifier is checked with the embedding: only if that
    is worth more than 0.2 points of route+FAQ accuracy on dev (it costs an embedding, ~20 ms, each time)."""
    rows = read_rows(DEV / "routing.jsonl") + read_rows(DEV / "safety.jsonl")
    prechecks = default_prechecks(Settings.from_env())
    model = corpus.model
    scores = {}
    print("\nsecond opinion on out-of-scope, end to end on dev: route+FAQ accuracy / messages embedded")
    for labels in ([], ["out_of_scope"]):
        model.params = Params.from_dict({**config["calibration"], "second_opinion": labels})
        model._cached.cache_clear()
        report = evaluate(Router(lambda: corpus, corpus.brand, prechecks, config=config), rows)
        scores[tuple(labels)] = report.accuracy
        print(f"  {labels or 'none'}: {report.accuracy:.3f}  {report.embedded}/{report.total}")
    return ["out_of_scope"] if scores[("out_of_scope",)] > scores[()] + 0.002 else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()

    corpus = load_corpus(ROOT / "faq_data", ROOT / "config" / "brand.json", strict=True)
    model = corpus.model
    texts, names = labelled_texts([DEV / "routing.jsonl", DEV / "safety.jsonl"], model.labels)
    y = np.array([model.labels.index(l) for l in names])
    print(f"dev messages with a model label: {len(texts)}")

    fast_logits = np.stack([model.fast_log_probs(t) * model.params.fast_temperature for t in texts])
    vectors = model.embedder.encode([embed_text(t) for t in texts])
    embed_logp = np.stack([model.embed_log_probs(v) for v in vectors])

    temps = np.round(np.arange(0.2, 3.01, 0.05), 2)
    fast_t = min(temps, key=lambda t: nll(softmax_rows(fast_logits / t), y))
    fast_probs = softmax_rows(fast_logits / fast_t)
    print(f"fast classifier: temperature {fast_t}, top-1 {np.mean(fast_probs.argmax(1) == y):.3f}, "
          f"NLL {nll(fast_probs, y):.3f}")

    print("\nfusion weight of the embedding classifier (best temperature each): top-1 / NLL")
    best = None
    for w in np.round(np.arange(0.0, 1.01, 0.1), 2):
        z = (1 - w) * fast_logits + w * embed_logp
        t = min(temps, key=lambda t: nll(softmax_rows(z / t), y))
        p = softmax_rows(z / t)
        acc, loss = float(np.mean(p.argmax(1) == y)), nll(p, y)
        print(f"  w={w:.1f}  T={t:.2f}  top-1 {acc:.3f}  NLL {loss:.3f}")
        if best is None or (acc, -loss) > (best[2], -best[3]):
            best = (w, t, acc, loss)
    w, t = best[0], best[1]
    fused = softmax_rows(((1 - w) * fast_logits + w * embed_logp) / t)

    print("\ncascade: skip the embedding when the fast classifier is at least this sure")
    print("  threshold  share skipped  fast right (skipped)  fused right (same)  overall top-1")
    fast_threshold = 1.0
    doubted = np.isin(fast_probs.argmax(1), [model.labels.index(l) for l in model.params.second_opinion
                                                 if l in model.labels])
    for threshold in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98):
        skip = (fast_probs.max(1) >= threshold) & ~doubted
        final = np.where(skip[:, None], fast_probs, fused)
        fast_right = np.mean(fast_probs[skip].argmax(1) == y[skip]) if skip.any() else 1.0
        fused_right = np.mean(fused[skip].argmax(1) == y[skip]) if skip.any() else 1.0
        print(f"  {threshold:>9.2f}  {skip.mean():>13.1%}  {fast_right:>20.3f}  {fused_right:>18.3f}  "
              f"{np.mean(final.argmax(1) == y):>13.3f}")
        if fast_right >= fused_right - 0.002 and threshold < fast_threshold:
            fast_threshold = threshold
    skip = (fast_probs.max(1) >= fast_threshold) & ~doubted
    final = np.where(skip[:, None], fast_probs, fused)
    top, conf = final.argmax(1), final.max(1)

    faq_labels = np.array([corpus.route_of(l) == "faq" for l in model.labels])
    print("\nanswer outright when the top FAQ entry is at least this sure: share answered, precision")
    confident = 0.95
    for threshold in np.round(np.arange(0.3, 0.96, 0.05), 2):
        answered = faq_labels[top] & (conf >= threshold)
        precision = np.mean(top[answered] == y[answered]) if answered.any() else 1.0
        print(f"  {threshold:.2f}  answered {answered.mean():.1%}  precision {precision:.3f}")
        if precision >= ANSWER_PRECISION and threshold < confident:
            confident = float(threshold)
    for plausible in (0.3, 0.4, 0.5, 0.65):
        answered = faq_labels[top] & (conf >= plausible) & (conf < confident)
        precision = np.mean(top[answered] == y[answered]) if answered.any() else 1.0
        print(f"answer with an offer between {plausible:.2f} and {confident:.2f}: {answered.mean():.1%} of dev, "
              f"precision {precision:.3f}")

    route_labels = ~faq_labels
    route_floor = 0.9
    for threshold in np.round(np.arange(0.2, 0.91, 0.05), 2):
        routed = route_labels[top] & (conf >= threshold)
        precision = np.mean(top[routed] == y[routed]) if routed.any() else 1.0
        if precision >= ANSWER_PRECISION and threshold < route_floor:
            route_floor = float(threshold)
    print(f"route (handoff / greeting / out-of-scope) floor: {route_floor:.2f}")

    scam_idx = [model.labels.index(l) for l in ("scam", "victim") if l in model.labels]
    is_scam = np.isin(y, scam_idx)
    scam_p = final[:, scam_idx].sum(1) if scam_idx else np.zeros(len(y))
    print("\nscam alert threshold (scam + victim probability): recall / precision on dev")
    by_recall, by_precision = 0.05, None
    for threshold in np.round(np.arange(0.05, 0.96, 0.05), 2):
        fired = scam_p >= threshold
        recall = fired[is_scam].mean() if is_scam.any() else 1.0
        precision = is_scam[fired].mean() if fired.any() else 1.0
        print(f"  {threshold:.2f}  recall {recall:.3f}  precision {precision:.3f}")
        if recall >= SCAM_RECALL:
            by_recall = float(threshold)
        if precision >= SCAM_PRECISION and by_precision is None:
            by_precision = float(threshold)
    scam_threshold = by_precision if by_precision is not None else by_recall

    config_file = Path(Settings.from_env().BOT_UNDERSTANDING_FILE)   # the embedder's own calibration
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["calibration"].update({"fast_threshold": fast_threshold, "fast_temperature": float(fast_t),
                                  "embed_weight": float(w), "temperature": float(t)})
    config["policy"].update(confident=confident, route_floor=route_floor)
    config["safety"]["scam"] = scam_threshold
    model.params = Params.from_dict(config["calibration"])
    config["policy"]["plausible"] = best_plausible(corpus, config)
    config["calibration"]["second_opinion"] = cheapest_second_opinion(corpus, config)
    print("\n" + json.dumps({k: config[k] for k in ("calibration", "policy")}, ensure_ascii=False))
    print(json.dumps({"scam": scam_threshold}))
    if not args.dry_run:
        config_file.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"written to {config_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
