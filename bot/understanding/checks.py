"""Checks of the examples staff write, for `faq check`: too few, or nearer to another intent.

* an intent with fewer than MIN_EXAMPLES examples (warning: the model knows it poorly);
* an example whose sentence embedding is closer to another intent's examples (their centroid)
  than to the rest of its own (warning: it probably belongs there, or is too vague to teach anything).

An example written under two intents is found while loading (bot.faq). Plain Python over the
trained model's arrays.
"""
from __future__ import annotations

import numpy as np

from bot.faq import WARNING, Problem

#: Examples an intent should have (the model's accuracy falls off below this).
MIN_EXAMPLES = 60
#: An example is flagged when another intent's centroid is closer than its own by more than this.
MARGIN = 0.02


def example_problems(corpus) -> list[Problem]:
    model = corpus.model
    files = {**{e.id: e.file for e in corpus.entries.values()}, **{i.id: i.file for i in corpus.intents.values()}}
    problems = []
    counts = np.bincount(model.example_labels, minlength=len(model.labels))
    for label, count in zip(model.labels, counts):
        if count < MIN_EXAMPLES:
            problems.append(Problem(files.get(label, ""), label,
                                    f"只有 {count} 条例句（至少写 {MIN_EXAMPLES} 条用户的真实说法，机器人才认得准）", WARNING))
    vectors = np.asarray(model.example_vectors)
    labels = model.example_labels
    sums = np.zeros((len(model.labels), vectors.shape[1]), dtype=np.float32)
    np.add.at(sums, labels, vectors)
    for i, (vector, label) in enumerate(zip(vectors, labels)):
        own_count = counts[label] - 1
        if own_count < 1:
            continue
        own = (sums[label] - vector) / own_count
        others = sums / np.maximum(counts, 1)[:, None]
        others[label] = 0
        sims = others @ vector
        best = int(np.argmax(sims))
        if sims[best] > float(own @ vector) + MARGIN:
            problems.append(Problem(files.get(model.labels[label], ""), model.labels[label],
                                    f"例句「{model.example_texts[i]}」更像 {model.labels[best]} 的例句", WARNING))
    return problems
