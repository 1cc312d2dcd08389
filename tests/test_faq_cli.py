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
    assert [d["route"] for d in out] == ["faq", "greeting", "handoff", "fallback", "greeting", "faq"]
    assert out[0]["faq_id"] == "account_frozen" and out[5]["faq_id"] == "withdraw_failed"


def test_route_jsonl_dialogue_carries_the_conversation(tmp_path):
    faq = write_corpus(tmp_path / "faq", {"a.json": {"entries": [
        entry("fee_one", ["提现", "手续费"]), entry("time_one", ["提现", "到账时间"])]}})
    done = bot("route", "--jsonl", "--dialogue", stdin="提现\n2\n", BOT_FAQ_DIR=str(faq))
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["route"] == "clarify" and len(first["choices"]) == 2
    assert second["route"] == "faq" and second["faq_id"] == first["choices"][1]
    alone = bot("route", "--jsonl", stdin="提现\n2\n", BOT_FAQ_DIR=str(faq))
    assert json.loads(alone.stdout.splitlines()[1])["route"] == "fallback"


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


def test_faq_try_shows_candidates_scores_and_reasons():
    done = bot("faq", "try", "体现失败")
    assert done.returncode == 0, done.stderr
    assert "1. withdraw_failed" in done.stdout
    assert "keyword-pinyin:提现失败" in done.stdout
    assert "ti xian shi bai" in done.stdout
    assert "机器人会：faq（withdraw_failed）" in done.stdout


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
