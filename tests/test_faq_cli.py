"""`python -m bot route` and `python -m bot faq …`, run as staff and testers run them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from bot.masking import mask_text
from bot.storage import Storage
from tests.data.faq_support import ROOT, entry, write_corpus

TIMEOUT = 60


def bot(*args, stdin: str | None = None, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "REDIS_"))}
    # Any use of Redis would fail: nothing listens on port 1, and no embedded server may start.
    environ.update({"REDIS_URL": "redis://127.0.0.1:1/0", "PYTHONIOENCODING": "utf-8"})
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, input=stdin, capture_output=True,
                          text=True, encoding="utf-8", env=environ, timeout=TIMEOUT)


def test_route_prints_one_json_object():
    done = bot("route", "体现一直失败怎么回事")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["route"] == "faq" and data["faq_id"] == "withdraw_failed"
    assert {"route", "faq_id", "score", "reply", "candidates"} <= data.keys()
    assert "400-888-6688" in data["reply"]
    assert data["candidates"][0]["reasons"]


def test_route_jsonl_answers_every_line_in_order():
    lines = ["帳戶被凍結", "你好", "转人工", "今天天气怎么样", "", "tixian shibai"]
    done = bot("route", "--jsonl", stdin="\n".join(lines) + "\n")
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [d["route"] for d in out] == ["faq", "greeting", "handoff", "fallback", "fallback", "faq"]
    assert out[0]["faq_id"] == "account_frozen" and out[5]["faq_id"] == "withdraw_failed"


def test_route_jsonl_dialogue_carries_the_conversation():
    done = bot("route", "--jsonl", "--dialogue", stdin="提现一直失败\n那要多久\n")
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["faq_id"] == second["faq_id"] == "withdraw_failed"
    alone = bot("route", "--jsonl", stdin="提现一直失败\n那要多久\n")
    assert json.loads(alone.stdout.splitlines()[1])["route"] == "fallback"


def test_route_dialogue_keeps_each_users_conversation_apart():
    turns = [{"user": "a", "text": "提现一直失败"}, {"user": "b", "text": "今天天气怎么样"},
             {"user": "a", "text": "那要多久"}, {"user": "b", "text": "给我讲个笑话"},
             {"user": "a", "text": "谢谢"}]
    done = bot("route", "--dialogue", stdin="".join(json.dumps(t, ensure_ascii=False) + "\n" for t in turns))
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [d["route"] for d in out] == ["faq", "fallback", "faq", "handoff", "greeting"]
    assert out[0]["faq_id"] == out[2]["faq_id"] == "withdraw_failed"    # the follow-up keeps a's topic
    assert set(out[0]) == set(json.loads(bot("route", "提现失败").stdout))  # the same shape as route


def test_route_without_a_message_is_a_usage_error():
    assert bot("route").returncode == 2


def test_faq_check_passes_on_the_shipped_corpus():
    done = bot("faq", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "检查通过" in done.stdout


def test_faq_check_names_file_and_entry_and_fails(tmp_path):
    faq = write_corpus(tmp_path / "faq", {
        "good.json": {"entries": [entry("good_one", ["冻结"])]},
        "bad.json": {"entries": [entry("typo_one", ["提现"], answer="请拨打 {hotlne} 联系我们。")]},
        "worse.json": "{",
    })
    done = bot("faq", "check", "--dir", str(faq))
    assert done.returncode == 1
    assert "bad.json [typo_one]" in done.stdout and "{hotlne}" in done.stdout
    assert "worse.json" in done.stdout
    assert "2 个错误" in done.stdout


def test_faq_try_shows_probabilities_nearest_examples_and_the_route():
    done = bot("faq", "try", "体现失败")
    assert done.returncode == 0, done.stderr
    assert "1. withdraw_failed  概率" in done.stdout
    assert "最像的例句：" in done.stdout
    assert "ti xian si bai" in done.stdout
    assert "机器人会：faq（withdraw_failed）" in done.stdout


def test_faq_eval_scores_a_labelled_file(tmp_path):
    rows = [{"text": "提现一直失败", "route": "faq", "faq_id": "withdraw_failed", "style": "plain"},
            {"text": "转人工", "route": "handoff", "style": "plain"},
            {"text": "今天天气怎么样", "route": "faq", "faq_id": "withdraw_failed", "style": "odd"}]
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    done = bot("faq", "eval", str(path), "--misses", "5")
    assert done.returncode == 0, done.stderr
    assert "route+FAQ accuracy 0.667 (2/3)" in done.stdout
    assert "odd" in done.stdout and "withdraw_failed → fallback" in done.stdout
    path.write_text('{"text": "x"}\n', encoding="utf-8")
    assert bot("faq", "eval", str(path)).returncode == 2


def test_faq_unmatched_lists_masked_messages_by_count(redis_server, redis_client):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    storage = Storage(redis_client, prefix)
    for text, times in (("我的手机13812345678怎么开发票", 3), ("能不能借我点钱", 1)):
        for _ in range(times):
            storage.count_unmatched(mask_text(text))
    done = bot("faq", "unmatched", "--top", "5", REDIS_URL=redis_server.url, BOT_REDIS_PREFIX=prefix)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "次" in line]
    assert lines[0].split() == ["3", "次", "我的手机138****5678怎么开发票"]
    assert lines[1].split() == ["1", "次", "能不能借我点钱"]
    assert "13812345678" not in done.stdout


def test_faq_unmatched_with_nothing_recorded(redis_server):
    done = bot("faq", "unmatched", REDIS_URL=redis_server.url, BOT_REDIS_PREFIX=f"t{uuid.uuid4().hex[:8]}")
    assert done.returncode == 0 and "还没有" in done.stdout


@pytest.mark.parametrize("args", [("faq",), ("faq", "try")])
def test_faq_usage_errors(args):
    assert bot(*args).returncode == 2


def test_verify_check_shows_the_model_the_signals_and_the_decision():
    done = bot("verify", "check", "KF1003让我把验证码告诉他")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["identifiers"] == [{"kind": "agent_id", "value": "KF1003"}]
    assert "sms_code" in data["signals"]["names"]
    decision = data["decision"]
    assert decision["route"] == "scam_alert" and decision["priority"]
    # a real agent number with a demand staff never make: the verdict is shown, and it is still a scam
    assert "✅ 工号 KF1003" in decision["reply"] and "即使号码/工号/网址是真的" in decision["reply"]
