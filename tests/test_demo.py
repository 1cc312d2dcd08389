"""`python -m bot demo` (README command 1) as a tester runs it: a process with the embedded Redis,
gunicorn, the worker and the fake WeChat, driven through its stdin."""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis

from bot.decision import Conversation
from bot.redis_server import ensure_embedded, stop_embedded
from bot.storage import Storage
from config.settings import PROJECT_ROOT

USER = "oDemoUser0000000000000000001"


@pytest.fixture(scope="module")
def var(tmp_path_factory):
    var = tmp_path_factory.mktemp("demo")
    yield var
    stop_embedded(var)


def _env(var) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # the embedded Redis, as on a fresh machine
    return {**env, "BOT_VAR_DIR": str(var), "BOT_LOG_LEVEL": "WARNING"}


def demo(var, script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", "demo", "--workers", "1", *args], cwd=PROJECT_ROOT,
                          env=_env(var), input=script, capture_output=True, text=True, timeout=120)


def test_help_lists_the_menu_and_the_chat_shows_only_what_a_user_sees(var):
    out = demo(var, "/help\n/scancode https://wallet-example.com.cn/kf\n转人工\n/wait 3\n/debug\n你好\n/quit\n",
               "--reset")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for key in ("MENU_FAQ_HOT", "MENU_CONTACT", "MENU_VERIFY", "MENU_HUMAN", "MENU_FRAUD"):
        assert f"/click {key}" in text
    before_debug = text.split("（调试信息：开）")[0]
    assert "已为您转接人工客服" in before_debug                          # the notice, as WeChat shows it
    assert "wallet-example.com.cn：不是示例钱包的官方网址" in before_debug  # a scanned fake link is checked
    assert "[转人工]" not in text and "[调试]" not in before_debug and "公众号没有回复" not in text
    # /debug shows what the user cannot see: with the agent's session open, WeChat hands the message to
    # the agent and the bot never gets the push
    assert "[调试] 路由 " in text and "消息已转给客服 kf1001@demo_wallet_official，公众号收不到" in text
    assert "python -m bot redis stop" in text and "仍在后台运行" in text
    assert "Traceback" not in out.stderr and _bot_processes(var) == []


def test_reset_starts_from_empty_state(var):
    storage = Storage(redis.Redis.from_url(ensure_embedded(var)), "wxbot")
    waiting_for_a_rating = Conversation(extra={"awaiting": "rating", "rating_for": {"account": "kf1001@x"}})
    storage.save_conversation(USER, waiting_for_a_rating)
    assert "感谢您的评价" in demo(var, "5\n/quit\n").stdout                # the old state answers
    storage.save_conversation(USER, waiting_for_a_rating)
    out = demo(var, "5\n/quit\n", "--reset")
    assert "已清空机器人状态" in out.stdout and "感谢您的评价" not in out.stdout
    storage.redis.close()


def _lines(proc) -> queue.Queue:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    return lines


def _wait_for(lines: queue.Queue, seen: list, needle: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen.append(lines.get(timeout=0.5))
        except queue.Empty:
            continue
        if needle in seen[-1]:
            return
    raise AssertionError(f"no {needle!r} in {seen}")


@pytest.mark.parametrize("when", ["starting", "chatting"])
def test_ctrl_c_exits_without_a_traceback(var, when):
    proc = subprocess.Popen([sys.executable, "-m", "bot", "demo", "--workers", "1"], cwd=PROJECT_ROOT, env=_env(var),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen: list = []
        lines = _lines(proc)
        _wait_for(lines, seen, "启动中" if when == "starting" else "你是微信用户")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) in (0, 130)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    time.sleep(0.2)  # the reader thread takes the last lines
    while not lines.empty():
        seen.append(lines.get())
    output = "".join(seen)
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert "python -m bot redis stop" in output
    assert _bot_processes(var) == []                                   # gunicorn and the worker stopped


def _bot_processes(var) -> list[int]:
    """Gunicorn and queue-worker processes started for this var dir (Linux /proc)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                cmdline = fh.read()
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                environ = fh.read().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        if (b"gunicorn" in cmdline or b"worker" in cmdline) and f"BOT_VAR_DIR={var}".encode() in environ:
            found.append(int(entry.name))
    return found
