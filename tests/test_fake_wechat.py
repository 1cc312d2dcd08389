"""The fake WeChat, driven by wechatpy's own client and by a tiny wechatpy-based Flask bot.

The API side is checked through `wechatpy.WeChatClient` (its `_http` rewritten to the fake,
protocol doc §4); the push side through a Flask bot that verifies and decrypts with wechatpy.
"""
from __future__ import annotations

import threading
import time

import pytest
import requests
from flask import Flask, Response, request
from wechatpy import WeChatClient, create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.events import (ClickEvent, KfCloseSessionEvent, KfCreateSessionEvent, KfSwitchSessionEvent,
                             LocationEvent, ScanEvent, SubscribeEvent, SubscribeScanEvent, UnsubscribeEvent,
                             ViewEvent)
from wechatpy.exceptions import WeChatClientException
from wechatpy.messages import (ImageMessage, LinkMessage, LocationMessage, ShortVideoMessage, TextMessage,
                               VideoMessage, VoiceMessage)
from wechatpy.utils import check_signature
from werkzeug.serving import make_server

from bot.sim import crypto
from bot.sim.fake_wechat import BotReplyError, FakeWeChat, SimError
from bot.sim.pusher import PushBuilder, Pusher, ReplyError, cdata, render

WECHAT = "https://api.weixin.qq.com"
KF1 = "kf1001@demo_wallet_official"
KF2 = "kf1002@demo_wallet_official"


class Clock:
    def __init__(self):
        self.now = 1_714_036_504.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


class RewritingSession(requests.Session):
    """wechatpy hard-codes api.weixin.qq.com for several calls; send them to the fake instead."""

    def __init__(self, base_url):
        super().__init__()
        self.base_url = base_url
        self.trust_env = False

    def request(self, method, url, *args, **kwargs):
        if url.startswith(WECHAT):
            url = self.base_url + url[len(WECHAT):]
        return super().request(method, url, *args, **kwargs)


def wechat_client(fake, secret=None, appid=None):
    client = WeChatClient(appid or fake.app_id, secret or fake.app_secret, timeout=5, auto_retry=False)
    client._http = RewritingSession(fake.base_url)
    return client


def errcode_of(call):
    with pytest.raises(WeChatClientException) as info:
        call()
    return info.value.errcode


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def fake(clock):
    with FakeWeChat(clock=clock) as fake:
        yield fake


@pytest.fixture
def client(fake):
    return wechat_client(fake)


# ---------------------------------------------------------------- a tiny bot built on wechatpy
class Bot:
    """Verifies, decrypts and parses every push with wechatpy; replies by the text it gets."""

    def __init__(self, fake: FakeWeChat):
        self.fake = fake
        self.received = []     # parsed wechatpy messages
        self.raw = []          # (query args, body) of every POST
        self.seen_ids = set()
        app = Flask("test-bot")
        app.add_url_rule("/wechat", "wechat", self.handle, methods=["GET", "POST"])
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/wechat"

    def handle(self):
        args = request.args
        check_signature(self.fake.token, args["signature"], args["timestamp"], args["nonce"])
        if request.method == "GET":
            return args["echostr"]
        body = request.get_data(as_text=True)
        self.raw.append((dict(args), body))
        aes = args.get("encrypt_type") == "aes"
        if aes:
            wx_crypto = WeChatCrypto(self.fake.token, self.fake.encoding_aes_key, self.fake.app_id)
            body = wx_crypto.decrypt_message(body, args["msg_signature"], args["timestamp"], args["nonce"])
        msg = parse_message(body)
        self.received.append(msg)
        xml = self.answer(msg)
        if xml in ("", "success") or not aes:
            return Response(xml, mimetype="application/xml")
        return Response(wx_crypto.encrypt_message(xml, args["nonce"], args["timestamp"]), mimetype="application/xml")

    def answer(self, msg) -> str:
        if msg.type != "text":
            return create_reply(f"event {getattr(msg, 'event', msg.type)}", msg).render()
        if msg.content.startswith("人工"):
            target = msg.content[2:].strip()
            trans = f"<TransInfo><KfAccount>{cdata(target)}</KfAccount></TransInfo>" if target else ""
            head = render({"ToUserName": msg.source, "FromUserName": msg.target, "CreateTime": msg.time,
                           "MsgType": "transfer_customer_service"})
            return head.replace("</xml>", trans + "</xml>")
        if msg.content == "慢" and msg.id not in self.seen_ids:
            self.seen_ids.add(msg.id)
            time.sleep(self.fake.reply_deadline + 0.4)
        if msg.content == "静":
            return "success"
        if msg.content == "坏":
            return "<xml><MsgType>nonsense"
        if msg.content == "别人":
            return create_reply("hi", render=True, message=parse_message(
                body_for(msg.target, "o_someone_else")))
        if msg.content.startswith("原样"):                  # wechatpy leaves ]]> unescaped (doc §7.7)
            return create_reply(msg.content, msg).render()
        return create_reply(f"收到：{msg.content}".replace("]]>", "]]]]><![CDATA[>"), msg).render()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(timeout=5)


def body_for(account, openid):
    return PushBuilder(account).text(openid, "x")


@pytest.fixture(params=["plaintext", "compatible", "safe"])
def wired(request, clock):
    key = crypto.new_aes_key() if request.param != "plaintext" else ""
    with FakeWeChat(clock=clock, mode=request.param, encoding_aes_key=key, reply_deadline=0.5) as fake:
        with Bot(fake) as bot:
            fake.bot_url = bot.url
            yield fake, bot


@pytest.fixture
def plain(clock):
    with FakeWeChat(clock=clock, reply_deadline=0.5) as fake:
        with Bot(fake) as bot:
            fake.bot_url = bot.url
            yield fake, bot


# ---------------------------------------------------------------- push XML
def test_every_push_kind_parses_as_wechatpy_expects():
    b = PushBuilder("gh_x")
    cases = [
        (b.text("o1", "你好"), TextMessage, {"content": "你好"}),
        (b.image("o1", pic_url="http://p/1", media_id="m1"), ImageMessage, {"image": "http://p/1", "media_id": "m1"}),
        (b.voice("o1", media_id="m2", recognition="查余额"), VoiceMessage, {"recognition": "查余额", "format": "amr"}),
        (b.voice("o1", media_id="m2"), VoiceMessage, {"recognition": None}),
        (b.video("o1", media_id="m3", thumb_media_id="t3"), VideoMessage, {"media_id": "m3", "thumb_media_id": "t3"}),
        (b.shortvideo("o1", media_id="m4", thumb_media_id="t4"), ShortVideoMessage, {"thumb_media_id": "t4"}),
        (b.location("o1", 23.1, 113.3, 20, "广州"), LocationMessage, {"label": "广州", "scale": "20", "location": ("23.100000", "113.300000")}),
        (b.link("o1", "http://x/y", "标题", "描述"), LinkMessage, {"url": "http://x/y", "title": "标题"}),
        (b.subscribe("o1"), SubscribeEvent, {"event": "subscribe"}),
        (b.subscribe("o1", scene="123", ticket="T"), SubscribeScanEvent, {"scene_id": "123", "ticket": "T"}),
        (b.unsubscribe("o1"), UnsubscribeEvent, {"event": "unsubscribe"}),
        (b.scan("o1", "456", ticket="T2"), ScanEvent, {"scene_id": "456", "ticket": "T2"}),
        (b.location_event("o1", 23.13, 113.35, 119.38), LocationEvent, {"latitude": 23.13, "precision": 119.38}),
        (b.click("o1", "MENU_FAQ"), ClickEvent, {"key": "MENU_FAQ"}),
        (b.view("o1", "http://w/"), ViewEvent, {"url": "http://w/"}),
        (b.kf_create_session("o1", KF1), KfCreateSessionEvent, {"account": KF1}),
        (b.kf_close_session("o1", KF1), KfCloseSessionEvent, {"account": KF1}),
        (b.kf_switch_session("o1", KF1, KF2), KfSwitchSessionEvent, {"from_account": KF1, "to_account": KF2}),
    ]
    for xml, cls, attrs in cases:
        msg = parse_message(xml)
        assert type(msg) is cls, xml
        assert (msg.source, msg.target) == ("o1", "gh_x")
        for name, value in attrs.items():
            assert getattr(msg, name) == value, (xml, name)
    assert "<CreateTime>" in cases[0][0] and "<![CDATA[text]]>" in cases[0][0]


def test_msg_ids_are_unique_64_bit_and_events_have_none():
    b = PushBuilder()
    ids = [parse_message(b.text("o1", "x")).id for _ in range(200)]
    assert len(set(ids)) == 200
    assert all(0 < i < 2**63 for i in ids)
    assert "MsgId" not in b.click("o1", "K")


def test_cdata_end_marker_inside_content_survives():
    nasty = "a]]>b<c>&d]]>"
    assert parse_message(PushBuilder().text("o1", nasty)).content == nasty


def test_pusher_decode_reply_refuses_bad_encrypted_replies():
    key = crypto.new_aes_key()
    pusher = Pusher("http://127.0.0.1:9/none", "tok", "wxapp", key, mode="safe")
    inner = "<xml><ToUserName><![CDATA[o1]]></ToUserName><MsgType><![CDATA[text]]></MsgType></xml>"

    def response(body):
        r = requests.Response()
        r.status_code, r._content = 200, body.encode()
        return r

    good = WeChatCrypto("tok", key, "wxapp").encrypt_message(inner, "n1", "1714036504")
    assert pusher.decode_reply(response(good))["ToUserName"] == "o1"
    assert pusher.decode_reply(response("success")) is None
    with pytest.raises(ReplyError, match="MsgSignature"):
        pusher.decode_reply(response(good.replace("<Nonce><![CDATA[n1]]>", "<Nonce><![CDATA[n2]]>")))
    other_app = WeChatCrypto("tok", key, "wxother").encrypt_message(inner, "n1", "1714036504")
    with pytest.raises(ReplyError, match="appid"):
        pusher.decode_reply(response(other_app))
    with pytest.raises(ReplyError, match="safe mode"):
        pusher.decode_reply(response(inner))


# ---------------------------------------------------------------- tokens
def test_token_fetch_and_credentials(fake):
    client = wechat_client(fake)
    result = client.fetch_access_token()
    assert result["expires_in"] == 7200 and len(result["access_token"]) > 64
    assert fake.token_fetches == 1
    assert errcode_of(wechat_client(fake, appid="wxwrong").fetch_access_token) == 40013
    assert errcode_of(wechat_client(fake, secret="wrong").fetch_access_token) == 40001
    raw = requests.get(fake.base_url + "/cgi-bin/token",
                       params={"grant_type": "password", "appid": fake.app_id, "secret": fake.app_secret}, timeout=5)
    assert raw.json()["errcode"] == 40002
    assert fake.token_fetches == 1


def test_new_token_invalidates_old_after_overlap(fake, clock):
    first, second = wechat_client(fake), wechat_client(fake)
    fake.add_user("o1")
    first.customservice.get_accounts()           # fetches token A
    second.customservice.get_accounts()          # fetches token B: A now has 5 minutes left
    clock.advance(299)
    assert first.customservice.get_accounts() == []
    clock.advance(2)
    assert errcode_of(first.customservice.get_accounts) == 40001
    assert second.customservice.get_accounts() == []
    assert fake.token_fetches == 2


def test_expired_missing_and_unknown_tokens(fake, client):
    client.customservice.get_accounts()
    fake.expire_tokens()
    assert errcode_of(client.customservice.get_accounts) == 42001
    assert wechat_client(fake).customservice.get_accounts() == []    # a fresh fetch works
    stranger = WeChatClient(fake.app_id, fake.app_secret, access_token="forged", timeout=5, auto_retry=False)
    stranger._http = RewritingSession(fake.base_url)
    assert errcode_of(stranger.customservice.get_accounts) == 40001
    bare = requests.get(fake.base_url + "/cgi-bin/customservice/getkflist", timeout=5).json()
    assert bare["errcode"] == 41001


def test_stable_token_is_shared_and_isolated(fake, clock):
    url = fake.base_url + "/cgi-bin/stable_token"
    creds = {"grant_type": "client_credential", "appid": fake.app_id, "secret": fake.app_secret}
    first = requests.post(url, json=creds, timeout=5).json()
    clock.advance(100)
    again = requests.post(url, json=creds, timeout=5).json()
    assert again["access_token"] == first["access_token"] and again["expires_in"] == 7100
    wechat_client(fake).fetch_access_token()     # /token does not touch the stable token
    clock.advance(400)
    kf = fake.base_url + "/cgi-bin/customservice/getkflist"
    assert "kf_list" in requests.get(kf, params={"access_token": first["access_token"]}, timeout=5).json()
    forced = requests.post(url, json={**creds, "force_refresh": True}, timeout=5).json()
    assert forced["access_token"] != first["access_token"]
    assert requests.get(kf, params={"access_token": first["access_token"]}, timeout=5).json()["errcode"] == 40001
    assert requests.post(url, json={**creds, "secret": "x"}, timeout=5).json()["errcode"] == 40001


# ---------------------------------------------------------------- custom send: window and quotas
def test_custom_send_records_and_validates(fake, client):
    assert fake.user_says("o1", "你好") is None          # no bot_url: nothing pushed, window opened
    assert client.message.send_text("o1", "第一行\n第二行") == {"errcode": 0, "errmsg": "ok"}
    [sent] = fake.sent_to("o1")
    assert sent["content"] == "第一行\n第二行" and sent["msgtype"] == "text" and sent["kf_account"] is None
    assert errcode_of(lambda: client.message.send_text("o_nobody", "x")) == 40003
    assert errcode_of(lambda: client.message.send_text("o1", "")) == 44004
    assert errcode_of(lambda: client.post("message/custom/send", data={"touser": "o1", "msgtype": "fax"})) == 40008
    assert errcode_of(lambda: client.message.send_image("o1", "")) == 40007
    two = [{"title": t, "description": "", "image": "", "url": "http://a"} for t in "ab"]
    assert errcode_of(lambda: client.message.send_articles("o1", two)) == 45008
    assert errcode_of(lambda: client.message.send_text("o1", "x", account=KF1)) == 65401
    fake.add_agent(KF1, "小王")
    client.message.send_text("o1", "客服来了", account=KF1)
    assert fake.sent_to("o1")[-1]["kf_account"] == KF1
    bad = requests.post(fake.base_url + "/cgi-bin/message/custom/send", data=b"{not json",
                        params={"access_token": client.access_token}, timeout=5).json()
    assert bad["errcode"] == 47001
    assert len(fake.sent_to("o1")) == 2


def test_window_and_message_quota(fake, client, clock):
    fake.add_user("o1")
    assert errcode_of(lambda: client.message.send_text("o1", "x")) == 45015   # never interacted
    fake.user_says("o1", "在吗")
    for i in range(5):
        client.message.send_text("o1", f"m{i}")
    assert errcode_of(lambda: client.message.send_text("o1", "m5")) == 45047
    clock.advance(3600)
    fake.user_says("o1", "还在吗")                                          # a new message resets the allowance
    client.message.send_text("o1", "m6")
    clock.advance(48 * 3600)
    assert errcode_of(lambda: client.message.send_text("o1", "late")) == 42001   # the token died too
    client.fetch_access_token()
    assert errcode_of(lambda: client.message.send_text("o1", "late")) == 45015
    assert len(fake.sent_to("o1")) == 6


def test_event_quota_is_three_in_a_minute(fake, client, clock):
    fake.user_event("o2", "subscribe")
    for i in range(3):
        client.message.send_text("o2", f"welcome {i}")
    assert errcode_of(lambda: client.message.send_text("o2", "x")) == 45047
    fake.user_event("o2", "CLICK", key="MENU_FAQ")
    client.message.send_text("o2", "after click")
    clock.advance(61)
    assert errcode_of(lambda: client.message.send_text("o2", "x")) == 45015
    fake.user_event("o2", "VIEW", url="http://w/")                          # VIEW opens nothing
    assert errcode_of(lambda: client.message.send_text("o2", "x")) == 45015
    fake.user_event("o2", "unsubscribe")
    with pytest.raises(SimError):
        fake.user_says("o2", "hi")
    assert errcode_of(lambda: client.message.send_text("o2", "x")) == 45015


def test_typing(fake, client, clock):
    fake.user_says("o1", "hi")

    def typing(command):
        return client.post("message/custom/typing", data={"touser": "o1", "command": command})

    assert typing("Typing")["errcode"] == 0 and fake.is_typing("o1")
    assert errcode_of(lambda: typing("Typing")) == 45081
    client.message.send_text("o1", "answer")                     # a sent message ends typing
    assert not fake.is_typing("o1")
    assert typing("Typing")["errcode"] == 0
    assert typing("CancelTyping")["errcode"] == 0 and not fake.is_typing("o1")
    assert errcode_of(lambda: typing("Dancing")) == 45072
    clock.advance(31)
    assert errcode_of(lambda: typing("Typing")) == 45080


# ---------------------------------------------------------------- kf accounts and sessions
def test_kf_accounts_crud_and_errors(fake, client):
    cs = client.customservice
    assert cs.add_account(KF1, "小王", "secret")["errcode"] == 0
    [account] = cs.get_accounts()
    assert account["kf_account"] == KF1 and account["kf_nick"] == "小王" and account["kf_id"] == "1001"
    assert errcode_of(lambda: cs.add_account(KF1, "again", "p")) == 65406
    assert errcode_of(lambda: cs.add_account("kf2@some_other_account", "x", "p")) == 65404
    assert errcode_of(lambda: cs.add_account("prefix_too_long@demo_wallet_official", "x", "p")) == 65404
    assert errcode_of(lambda: cs.add_account(KF2, "", "p")) == 65403
    assert errcode_of(lambda: cs.add_account(KF2, "名" * 17, "p")) == 65403
    assert cs.update_account(KF1, "王经理", "p")["errcode"] == 0
    assert cs.get_accounts()[0]["kf_nick"] == "王经理"
    assert errcode_of(lambda: cs.update_account(KF2, "x", "p")) == 65401
    assert cs.get_online_accounts() == []                     # API-created agents start offline
    fake.set_agent_online(KF1, True)
    assert cs.get_online_accounts() == [{"kf_account": KF1, "status": 1, "kf_id": "1001", "accepted_case": 0}]
    assert cs.delete_account(KF1)["errcode"] == 0
    assert cs.get_accounts() == []
    assert errcode_of(lambda: cs.delete_account(KF1)) == 65401
    for i in range(100):
        fake.add_agent(f"a{i}@demo_wallet_official", f"agent{i}")
    assert errcode_of(lambda: cs.add_account(KF2, "one too many", "p")) == 65405


def test_kf_sessions_and_errors(plain):
    fake, bot = plain
    cs = wechat_client(fake).customservice
    fake.user_says("o1", "hi")
    fake.add_agent(KF1, "小王")
    fake.add_agent(KF2, "小李", online=False)
    assert errcode_of(lambda: cs.create_session("o_nobody", KF1)) == 40003
    assert errcode_of(lambda: cs.create_session("o1", "kf9@demo_wallet_official")) == 65401
    assert errcode_of(lambda: cs.create_session("o1", KF2)) == 65415
    assert cs.create_session("o1", KF1)["errcode"] == 0
    fake.set_agent_online(KF2, True)
    assert errcode_of(lambda: cs.create_session("o1", KF2)) == 65414
    session = cs.get_session("o1")
    assert session["kf_account"] == KF1 and session["createtime"] == int(fake.clock())
    assert cs.get_session_list(KF1) == [{"createtime": session["createtime"], "openid": "o1"}]
    assert cs.get_session_list(KF2) == []
    assert errcode_of(lambda: cs.get_session_list("kf9@demo_wallet_official")) == 65401
    assert errcode_of(lambda: cs.close_session("o1", KF2)) == 65413
    assert cs.close_session("o1", KF1)["errcode"] == 0
    assert cs.get_session("o1")["kf_account"] == ""
    assert errcode_of(lambda: cs.close_session("o1", KF1)) == 65413
    fake.wait_pushes()
    events = [m.event for m in bot.received if m.type == "event"]
    assert events == ["kf_create_session", "kf_close_session"]
    assert fake.push_errors == []


def test_fault_injection_and_call_log(fake, client):
    fake.user_says("o1", "hi")
    fake.inject("message/custom/send", errcode=45015)
    assert errcode_of(lambda: client.message.send_text("o1", "x")) == 45015
    client.message.send_text("o1", "works again")
    fake.inject("custom/send", http_status=500, times=2)
    assert errcode_of(lambda: client.message.send_text("o1", "x")) is None     # HTTP error: errcode None
    assert errcode_of(lambda: client.message.send_text("o1", "x")) is None
    fake.inject("getkflist", delay=0.6)
    slow = WeChatClient(fake.app_id, fake.app_secret, access_token=client.access_token, timeout=0.2,
                        auto_retry=False)
    slow._http = RewritingSession(fake.base_url)
    with pytest.raises(requests.Timeout):
        slow.customservice.get_accounts()
    assert [m["content"] for m in fake.sent_to("o1")] == ["works again"]
    sends = [c for c in fake.calls if c["path"] == "/cgi-bin/message/custom/send"]
    assert len(sends) == 4 and sends[1]["json"]["text"]["content"] == "works again"
    assert requests.get(fake.base_url + "/cgi-bin/nothing/here", timeout=5).json()["errcode"] == 48001
    wrong_method = requests.get(fake.base_url + "/cgi-bin/message/custom/send",
                                params={"access_token": client.access_token}, timeout=5).json()
    assert wrong_method["errcode"] == 43002


def test_wait_for_sent_is_bounded(fake, client):
    fake.user_says("o1", "hi")
    threading.Timer(0.2, lambda: client.message.send_text("o1", "later")).start()
    assert fake.wait_for_sent("o1", 1, timeout=5)[0]["content"] == "later"
    with pytest.raises(TimeoutError):
        fake.wait_for_sent("o1", 2, timeout=0.3)


# ---------------------------------------------------------------- pushes in all three modes
def test_user_says_reaches_the_bot_and_returns_its_reply(wired):
    fake, bot = wired
    reply = fake.user_says("o1", "余额怎么查 ]]> 😀")
    assert reply["MsgType"] == "text" and reply["Content"] == "收到：余额怎么查 ]]> 😀"
    assert reply["ToUserName"] == "o1" and reply["FromUserName"] == "gh_demo_wallet"
    assert bot.received[0].content == "余额怎么查 ]]> 😀"
    args, body = bot.raw[0]
    assert args["openid"] == "o1"
    if fake.mode == "plaintext":
        assert "encrypt_type" not in args and "<Content>" in body
    else:
        assert args["encrypt_type"] == "aes" and "<Encrypt>" in body
        assert ("<Content>" in body) == (fake.mode == "compatible")
    assert fake.user_event("o1", "CLICK", key="MENU_FAQ")["Content"] == "event click"
    assert fake.user_sends("o1", "voice", recognition="转人工")["Content"] == "event voice"
    assert fake.user_says("o1", "静") is None
    with pytest.raises(BotReplyError, match="well-formed"):
        fake.user_says("o1", "原样 ]]> breaks the reply")


def test_url_verification_get(plain):
    fake, bot = plain
    pusher = Pusher(bot.url, fake.token)
    assert pusher.verify_url("echo123").text == "echo123"
    assert Pusher(bot.url, "wrong-token").verify_url("echo123").status_code >= 400


def test_slow_bot_gets_wechat_retries(plain):
    fake, bot = plain
    reply = fake.user_says("o1", "慢")
    assert reply["Content"] == "收到：慢"
    assert len(fake.retries) == 1 and fake.retries[0]["attempt"] == 2
    first, second = bot.raw[0][0], bot.raw[1][0]
    assert bot.received[0].id == bot.received[1].id                     # the same message...
    assert first["nonce"] != second["nonce"] and first["signature"] != second["signature"]  # ...freshly signed


def test_bad_replies_show_the_service_error(plain):
    fake, _ = plain
    with pytest.raises(BotReplyError) as info:
        fake.user_says("o1", "坏")
    assert info.value.shown == "该公众号暂时无法提供服务，请稍后再试"
    with pytest.raises(BotReplyError, match="ToUserName"):
        fake.user_says("o1", "别人")
    fake.bot_url = "http://127.0.0.1:9/unreachable"
    with pytest.raises(BotReplyError, match="3 attempts"):
        fake.user_says("o1", "hi")
    assert len(fake.retries) == 2


def test_transfer_queue_and_agent_session_divert_messages(wired):
    fake, bot = wired
    cs = wechat_client(fake).customservice
    fake.add_agent(KF1, "小王")
    assert fake.user_says("o1", "人工")["MsgType"] == "transfer_customer_service"
    assert fake.user_says("o1", "还在排队吗")["Content"] == "收到：还在排队吗"   # queued users still reach the bot
    wait = cs.get_wait_case()
    assert wait["count"] == 1 and wait["waitcaselist"][0]["openid"] == "o1"
    assert fake.agent_accept(KF1) == "o1"
    assert [m["content"] for m in fake.agent_inbox(KF1)] == ["人工", "还在排队吗"]
    assert isinstance(bot.received[-1], KfCreateSessionEvent) and bot.received[-1].account == KF1
    received = len(bot.received)
    assert fake.user_says("o1", "我被骗了") is None
    assert fake.agent_inbox(KF1)[-1]["content"] == "我被骗了"
    assert len(bot.received) == received                               # the bot never saw it
    fake.agent_says(KF1, "o1", "您好，我是小王")
    assert fake.sent_to("o1")[-1] == {**fake.sent_to("o1")[-1], "via": "kf", "kf_account": KF1,
                                      "content": "您好，我是小王"}
    fake.agent_close(KF1, "o1")
    assert isinstance(bot.received[-1], KfCloseSessionEvent)
    assert fake.user_says("o1", "谢谢")["Content"] == "收到：谢谢"
    assert cs.get_wait_case()["count"] == 0


def test_targeted_transfer_and_switch(plain):
    fake, bot = plain
    fake.add_agent(KF1, "小王")
    fake.add_agent(KF2, "小李")
    reply = fake.user_says("o1", f"人工 {KF2}")
    assert reply["TransInfo"] == {"KfAccount": KF2}
    assert fake.agent_accept(KF1) is None                               # targeted at KF2 only
    assert fake.agent_accept(KF2) == "o1"
    fake.agent_switch(KF2, KF1, "o1")
    assert isinstance(bot.received[-1], KfSwitchSessionEvent)
    assert (bot.received[-1].from_account, bot.received[-1].to_account) == (KF2, KF1)
    assert fake.session_of("o1") == KF1
    fake.clock.advance(31 * 60)                                         # idle sessions end after 30 minutes
    assert fake.session_of("o1") is None
    assert fake.user_says("o1", "hello")["Content"] == "收到：hello"


def test_session_text_and_chat_records(plain, clock):
    """kfsession/create keeps its 附加信息 text; msgrecord/getmsglist serves what agent and user wrote."""
    fake, bot = plain
    cs = wechat_client(fake).customservice
    fake.user_says("o1", "hi")
    fake.add_agent(KF1, "小王")
    assert errcode_of(lambda: cs._post(WECHAT + "/customservice/kfsession/create",
                                       data={"openid": "o1", "kf_account": KF1, "text": ["x"]})) == 47001
    assert cs.create_session("o1", KF1, text="【普通】用户要求人工")["errcode"] == 0
    assert fake.session_text("o1") == ["【普通】用户要求人工"]
    start = int(clock())
    clock.advance(5)
    fake.agent_says(KF1, "o1", "您好，我是小王")
    clock.advance(5)
    assert fake.user_says("o1", "我的提现失败了") is None
    fake.user_sends("o1", "image", pic_url="http://example.com/a.jpg", media_id="m1")
    records = cs.get_records(start, int(clock()))
    assert records["number"] == 3 and records["msgid"] == 4
    assert [(r["opercode"], r["text"], r["worker"]) for r in records["recordlist"]] == [
        (2002, "您好，我是小王", KF1), (2003, "我的提现失败了", KF1), (2003, "[image]", KF1)]
    assert records["recordlist"][0] == {"openid": "o1", "opercode": 2002, "text": "您好，我是小王",
                                        "time": start + 5, "worker": KF1}
    page = cs.get_records(start, int(clock()), msgid=1, number=2)
    assert page["number"] == 2 and cs.get_records(start, int(clock()), msgid=page["msgid"])["number"] == 1
    assert cs.get_records(start + 6, int(clock()))["number"] == 2             # by time
    assert errcode_of(lambda: cs.get_records(start, start + 24 * 3600 + 1)) == 65417
    assert errcode_of(lambda: cs.get_records(start, int(clock()), number=10001)) == 65416
    assert errcode_of(lambda: cs.get_records(start, int(clock()), msgid=0)) == 65416
