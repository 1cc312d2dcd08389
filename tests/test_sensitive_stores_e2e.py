"""Issue 12.6 end to end: secrets a user pastes never reach any store in the clear.

One user each pastes an ID-card number, a bank-card number, a password, an SMS code, a CVV and a
seed phrase, through the real stack (gunicorn, the queue worker, real Redis, the fake WeChat), on
every path that keeps text: a plain answer, a handoff with the agent's context note, a victim's priority handoff, a ticket left after hours, and an unmatched message. Then every store is read back
whole and searched for each secret:

* Redis: every key of every type, the queue's job payloads (rq keeps them compressed) included;
* the log files of the web workers and the queue worker;
* everything the bot sent to WeChat's API (messages to users, session notes for agents);
* what staff see on the command line (tickets, the handoff queue, unmatched messages).

The user is warned each time, and the warning names what was given away.
"""
from __future__ import annotations

import re
import zlib

import pytest
from rq import Queue

from tests.helpers import until
from tests.test_handoff_e2e import CLOSED, KF1, OPEN
from tests.test_handoff_e2e import s, stack  # noqa: F401  (fixtures: the same stack, one per module)

ID_CARD = "11010519491231002X"
BANK_CARD = "6217003810026583925"
PASSWORD = "Qz83917wall"
SMS_CODE = "604417"
CVV = "738"
SEED = "garden lunar rescue timber violin ocean pilot maple frost candle ribbon wisdom"

#: What must never be found in the clear; the CVV is only three digits, so it is looked for beside its word.
SECRETS = {
    "id_card": re.compile(re.escape(ID_CARD), re.I),
    "bank_card": re.compile(BANK_CARD),
    "password": re.compile(PASSWORD),
    "sms_code": re.compile(SMS_CODE),
    "cvv": re.compile(rf"cvv\W{{0,3}}{CVV}", re.I),
    "seed_phrase": re.compile("garden.{0,3}lunar.{0,3}rescue"),
}
WARNED = "这些信息请不要发给任何人"


def _redis_text(client) -> str:
    """Every value in the Redis server, as text (rq's zlib-compressed job data opened)."""
    out = []

    def add(raw):
        if isinstance(raw, bytes):
            try:
                raw = zlib.decompress(raw)
            except zlib.error:
                pass
            out.append(raw.decode("utf-8", "replace"))
        else:
            out.append(str(raw))

    for key in client.scan_iter(count=500):
        kind = client.type(key).decode()
        add(key)
        if kind == "string":
            add(client.get(key))
        elif kind == "hash":
            for field, value in client.hgetall(key).items():
                add(field)
                add(value)
        elif kind == "list":
            for value in client.lrange(key, 0, -1):
                add(value)
        elif kind == "set":
            for value in client.smembers(key):
                add(value)
        elif kind == "zset":
            for value, _ in client.zrange(key, 0, -1, withscores=True):
                add(value)
        elif kind == "stream":
            for _, fields in client.xrange(key):
                for field, value in fields.items():
                    add(field)
                    add(value)
    return "\n".join(out)


def _wechat_text(fake) -> str:
    """Everything the bot sent through WeChat's API, session notes for agents included."""
    return "\n".join([repr(call) for call in fake.calls] + [repr(note) for note in fake.session_notes]
                     + [repr(sent) for sent in fake.sent])


def _found(text: str) -> list[str]:
    return [name for name, pattern in SECRETS.items() if pattern.search(text)]


@pytest.fixture
def flows(s):
    """Drive every path that stores text, each message carrying secrets; wait until the queue is idle."""
    s.set_hours(OPEN)
    s.agents_online(KF1)
    asker, talker, victim = "oSecretAsker00000000000001", "oSecretTalker0000000000001", "oSecretVictim0000000000001"
    replies = [
        s.fake.user_says(asker, f"我的银行卡{BANK_CARD}提现一直失败，身份证{ID_CARD}，怎么办"),
        s.fake.user_says(talker, f"我的登录密码是{PASSWORD}，验证码 {SMS_CODE}，帮我看看账号怎么了"),
    ]
    assert s.fake.user_says(talker, "转人工")["MsgType"] == "transfer_customer_service"
    until(lambda: s.fake.session_of(talker), what="an agent session for the user who asked for one")
    s.fake.agent_close(KF1, talker)
    alerted = s.fake.user_says(victim, f"完了，我刚把验证码 {SMS_CODE} 告诉了自称客服的人，卡号{BANK_CARD}也给他了")
    assert "96110" in alerted["Content"] and "优先转接" in alerted["Content"]
    replies.append(alerted)
    until(lambda: s.fake.session_of(victim), what="the victim's priority session")
    s.fake.agent_close(KF1, victim)

    s.set_hours(CLOSED)
    leaver, reporter = "oSecretLeaver0000000000001", "oSecretReporter00000000001"
    assert s.fake.user_says(leaver, "转人工")["MsgType"] == "text"
    left = s.fake.user_says(leaver, f"卡号{BANK_CARD}，cvv {CVV}，助记词 {SEED}，麻烦尽快处理")
    assert "工单" in left["Content"]         # a ticket (a priority one: the bot reads it as a scam)
    replies.append(left)
    replies.append(s.fake.user_says(reporter, f"qwpoeiru zxmvn 验证码 {SMS_CODE}"))
    s.set_hours(OPEN)

    queue = Queue(s.env["BOT_QUEUE_NAME"], connection=s.storage.redis)
    until(lambda: queue.count == 0 and queue.started_job_registry.count == 0, timeout=40, what="queue idle")
    return replies


def test_every_store_keeps_pasted_secrets_masked_and_the_user_is_warned(s, flows):
    for reply in flows:
        assert WARNED in reply["Content"]                   # the guard warned every time
    assert "助记词" in flows[3]["Content"] and "安全码" in flows[3]["Content"]

    stores = {
        "redis": _redis_text(s.storage.redis),
        "logs": "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in s.bot.log_dir.glob("*.log")),
        "wechat api": _wechat_text(s.fake),
        "staff commands": "\n".join(s.cli(*args) for args in
                                    (("tickets",), ("handoff", "queue", "--full"), ("faq", "unmatched"))),
    }
    assert "oSecretTalker" in stores["wechat api"]          # the stores were really read (not empty)
    assert "工单" in stores["redis"] or "ticket" in stores["redis"]
    leaks = {where: _found(text) for where, text in stores.items()}
    assert leaks == {where: [] for where in stores}, leaks
    masked_forms = stores["redis"] + stores["staff commands"]
    assert f"{ID_CARD[:6]}********" in masked_forms or f"{BANK_CARD[:4]}****" in masked_forms
