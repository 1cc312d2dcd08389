"""The terminal chat, driven by scripted input against a fake WeChat and a tiny Flask bot."""
from __future__ import annotations

import io
import threading

import pytest
import requests
from flask import Flask, request
from wechatpy import create_reply, parse_message
from werkzeug.serving import make_server

from bot.sim.chat import run_chat
from bot.sim.fake_wechat import FakeWeChat

AGENT = "kf1001@demo_wallet_official"


def tiny_bot(fake: FakeWeChat) -> Flask:
    """Replies to text, transfers on 人工, and answers 查余额 with an extra customer-service message."""
    app = Flask("chat-test-bot")

    @app.post("/wechat")
    def wechat():
        msg = parse_message(request.get_data())
        if msg.type == "event":
            return create_reply(f"菜单 {getattr(msg, 'key', msg.event)}", msg).render()
        if msg.type != "text":
            return create_reply(f"收到{msg.type}", msg).render()
        if msg.content == "人工":
            return (f"<xml><ToUserName><![CDATA[{msg.source}]]></ToUserName><FromUserName><![CDATA[{msg.target}]]>"
                    f"</FromUserName><CreateTime>{msg.time}</CreateTime>"
                    "<MsgType><![CDATA[transfer_customer_service]]></MsgType></xml>")
        if msg.content == "查余额":
            token = requests.get(fake.base_url + "/cgi-bin/token", timeout=5, params={
                "grant_type": "client_credential", "appid": fake.app_id, "secret": fake.app_secret}).json()
            sent = requests.post(fake.base_url + "/cgi-bin/message/custom/send", timeout=5,
                                 params={"access_token": token["access_token"]},
                                 json={"touser": msg.source, "msgtype": "text",
                                       "text": {"content": "余额请在App首页查看\n如有疑问请回复“人工”"}})
            assert sent.json()["errcode"] == 0
        return create_reply(f"收到：{msg.content}", msg).render()

    return app


@pytest.fixture
def fake():
    with FakeWeChat(reply_deadline=2.0) as fake:
        server = make_server("127.0.0.1", 0, tiny_bot(fake), threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        fake.bot_url = f"http://127.0.0.1:{server.server_port}/wechat"
        yield fake
        server.shutdown()
        thread.join(timeout=5)


def chat(fake, script: str, agent=None) -> list[str]:
    out = io.StringIO()
    before = {t.name for t in threading.enumerate()}
    assert run_chat(fake, "o_tester", agent=agent, stdin=io.StringIO(script), stdout=out) == 0
    assert "chat-poller" not in {t.name for t in threading.enumerate()} - before  # the poller stopped
    return out.getvalue().splitlines()


def test_passive_reply_and_custom_message_are_shown(fake):
    lines = chat(fake, "你好\n查余额\n/click MENU_FAQ\n/nonsense\n/quit\nnever read\n")
    assert "公众号: 收到：你好" in lines
    assert "公众号: 收到：查余额" in lines
    at = lines.index("公众号: 余额请在App首页查看")                 # the API message, line break kept
    assert lines[at + 1].strip() == "如有疑问请回复“人工”"
    assert "公众号: 菜单 MENU_FAQ" in lines
    assert any("未知命令 /nonsense" in line for line in lines)
    assert not any("never read" in line for line in lines)
    assert [m["content"] for m in fake.sent_to("o_tester")] == ["余额请在App首页查看\n如有疑问请回复“人工”"]


def test_tester_can_play_the_agent(fake):
    script = "人工\n/queue\n/accept\n我被骗了怎么办\n/reply 您好，我是客服\n/close\n谢谢\n"
    lines = chat(fake, script, agent=AGENT)
    assert not any("转人工" in line or "[调试]" in line for line in lines)  # a transfer shows the user nothing
    assert "  o_tester" in lines                                      # /queue lists the waiting user
    assert f"（客服 {AGENT} 接入了 o_tester）" in lines
    assert f"[客服台 {AGENT}] 用户 o_tester: 人工" in lines          # the message that asked for a person
    assert f"[客服台 {AGENT}] 用户 o_tester: 我被骗了怎么办" in lines
    assert "客服 KF1001: 您好，我是客服" in lines
    assert "公众号: 收到：谢谢" in lines                               # after /close the bot answers again
    assert lines.index("客服 KF1001: 您好，我是客服") < lines.index("公众号: 收到：谢谢")


def test_debug_shows_routes_transfers_and_silent_answers(fake):
    counts = {"faq": 0}

    def routes():
        counts["faq"] += 1  # each push "takes" the faq route, as the bot's counters would say
        return dict(counts)

    out = io.StringIO()
    run_chat(fake, "o_tester", agent=AGENT, stdin=io.StringIO("/debug\n人工\n/accept\n在吗\n/debug\n你好\n"),
             stdout=out, menu={"MENU_FAQ_HOT": "常见问题"}, routes=routes)
    lines = out.getvalue().splitlines()
    assert "（调试信息：开）" in lines and "（调试信息：关）" in lines
    assert "  [调试] 路由 faq；被动回复：转人工（微信排队）" in lines
    assert f"  [调试] 路由 faq；消息已转给客服 {AGENT}，公众号收不到" in lines
    assert sum("[调试]" in line for line in lines) == 2                # off again for the last message


def test_help_lists_the_menu_keys(fake):
    out = io.StringIO()
    run_chat(fake, "o_tester", stdin=io.StringIO("/help\n"), stdout=out, menu={"MENU_FAQ_HOT": "常见问题"})
    assert "  /click MENU_FAQ_HOT    常见问题" in out.getvalue().splitlines()


def test_unfollowed_user_and_bad_bot_are_explained(fake):
    lines = chat(fake, "/unsubscribe\nhello\n/subscribe 42\n/voice 查余额\n")
    assert any("无法操作" in line and "subscribe first" in line for line in lines)
    assert "公众号: 菜单 subscribe_scan" in lines
    assert "公众号: 收到voice" in lines
    fake.bot_url = "http://127.0.0.1:9/down"
    lines = chat(fake, "在吗\n")
    assert any(line.startswith("（微信提示）该公众号暂时无法提供服务，请稍后再试") for line in lines)
