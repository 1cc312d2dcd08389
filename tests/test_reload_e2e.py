"""Issue 10.7: every gunicorn worker switches to an FAQ edit on its own timer, and all serve one version."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import requests

from bot.reloader import ReloadingSource
from bot.sim.stack import BotProcesses
from config.settings import PROJECT_ROOT
from tests.helpers import bot_env

WORKERS = 3
INTERVAL = 0.5
#: How long to leave the workers alone after an edit: their timers fire within INTERVAL, and loading
#: the corpus and its stored model takes a worker about a second, several when three load at once on
#: two busy cores (2 s was too little once in a full suite run).
SETTLE = INTERVAL * 4 + 4


def test_a_source_reloads_on_its_timer_without_being_asked(tmp_path):
    path = tmp_path / "value.json"
    path.write_text('{"v": 1}', encoding="utf-8")
    loads = []
    source = ReloadingSource(lambda: [path], lambda: loads.append(1) or json.loads(path.read_text()), 0.1, "t")
    first = source.version
    path.write_text('{"v": 2, "longer": true}', encoding="utf-8")
    deadline = time.monotonic() + 10
    while len(loads) < 2 and time.monotonic() < deadline:   # no get(): only the timer can load it
        time.sleep(0.05)
    assert source.get() == {"v": 2, "longer": True} and source.version != first
    path.write_text("{ broken", encoding="utf-8")
    deadline = time.monotonic() + 10
    while source.error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert source.error and source.get()["v"] == 2 and source.version != first


def _worker_pids(master: int) -> set[int]:
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            pids.add(int(stat.parent.name))
    return pids


def _each_worker(bot: BotProcesses, pids: set[int]) -> dict[int, dict]:
    """/healthz from every worker (new connections land on any of them; bounded)."""
    seen: dict[int, dict] = {}
    deadline = time.monotonic() + 30
    while set(seen) != pids and time.monotonic() < deadline:
        health = requests.get(bot.base_url + "/healthz", headers={"Connection": "close"}, timeout=5).json()
        seen.setdefault(health["process"]["pid"], health)
    assert set(seen) == pids, f"heard from {sorted(seen)} of {sorted(pids)}"
    return seen


@pytest.fixture(scope="module")
def bot(redis_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reload")
    faq = tmp / "faq"
    shutil.copytree(PROJECT_ROOT / "faq_data", faq)
    env = bot_env(redis_server.url, BOT_FAQ_DIR=faq, BOT_VAR_DIR=tmp, BOT_RELOAD_INTERVAL=INTERVAL)
    bot = BotProcesses(env, web_workers=WORKERS, queue_worker=False).start()
    yield bot, faq
    bot.stop()


def test_a_good_then_a_broken_edit_reach_every_worker_alike_even_idle(bot):
    bot, faq = bot
    master = bot.processes[0].pid
    deadline = time.monotonic() + 30
    while len(_worker_pids(master)) < WORKERS and time.monotonic() < deadline:
        time.sleep(0.1)
    pids = _worker_pids(master)
    assert len(pids) == WORKERS
    before = _each_worker(bot, pids)
    assert len({h["faq"]["version"] for h in before.values()}) == 1
    assert len({h["process"]["content_version"] for h in before.values()}) == 1
    old = next(iter(before.values()))["faq"]["version"]

    data = json.loads((faq / "account.json").read_text(encoding="utf-8"))
    data["entries"][0]["answer"] += "（本条已更新）"
    (faq / "account.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    time.sleep(SETTLE)                   # no request meanwhile: each worker's timer must do it
    asked_at = time.time()
    after = _each_worker(bot, pids)
    versions = {h["faq"]["version"] for h in after.values()}
    assert len(versions) == 1 and old not in versions
    assert all(h["faq"]["loaded_at"] < asked_at for h in after.values())   # loaded before anyone asked
    assert all(h["faq"]["error"] is None for h in after.values())
    good = versions.pop()

    (faq / "funds.json").write_text('{"entries": [ broken', encoding="utf-8")
    time.sleep(SETTLE)
    broken = _each_worker(bot, pids)
    assert {h["faq"]["version"] for h in broken.values()} == {good}     # all keep the last good edit
    assert all("funds.json" in (h["faq"]["error"] or "") for h in broken.values())
    assert all(h["status"] == "degraded" for h in broken.values())
    assert len({h["process"]["content_version"] for h in broken.values()}) == 1
