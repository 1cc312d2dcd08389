"""Every documented push kind, as WeChat really sends it (tests/fixtures/pushes/), against gunicorn,
the queue worker, real Redis and the fake WeChat, in plaintext and safe mode: each gets HTTP 200 and an
answer WeChat accepts, useful where a user is waiting, "success" where nobody is."""
from __future__ import annotations

import random
import re
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest

from bot.endpoint import SORRY
from bot.sim.fake_wechat import FakeWeChat
from bot.sim.pusher import Pusher
from bot.sim.stack import BotProcesses
from tests.helpers import AES_KEY, APP_ID, APP_SECRET, TOKEN, bot_env

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "pushes").glob("*.xml"))
MODES = ("plaintext", "safe")
#: Kinds a user is waiting on: a text answer.
ANSWERED = {"text", "image", "voice", "video", "shortvideo", "location", "link", "subscribe", "subscribe_qrscene",
            "click", "scancode_waitmsg"}
#: WeChat's own notices, pickers whose pick arrives as its own message, passive events: "success".
SUCCESS = {"pic_sysphoto", "pic_photo_or_album", "pic_weixin", "location_select", "masssendjobfinish",
           "templatesendjobfinish", "shakearoundusershake", "qualification_verify_success",
           "qualification_verify_fail", "naming_verify_success", "naming_verify_fail", "annual_renew",
           "verify_expired", "card_pass_check", "card_not_pass_check", "card_sku_remind", "poi_check_notify",
           "unsubscribe", "view", "view_miniprogram", "location_event", "kf_create_session", "kf_switch_session",
           "user_get_card", "user_del_card", "user_consume_card", "unknown", "notsure"}
#: The kinds named in the protocol doc and issue 10: each must have a fixture.
DOCUMENTED = ANSWERED | SUCCESS | {"scan", "scancode_push", "kf_close_session", "user_view_card",
                                   "user_gifting_card", "user_pay_from_pay_cell", "update_member_card",
                                   "card_pay_order", "submit_membercard_user_info", "user_enter_session_from_card"}


def kind_of(path: Path) -> str:
    return path.name.split(".")[0]


def fresh(xml: str, openid: str, msg_id: int) -> str:
    """The sample from a new sender, sent now, with its own MsgId (the samples share some): a push
    WeChat would send, not a retry of another one."""
    xml = re.sub(r"<MsgId>\s*\d+\s*</MsgId>", f"<MsgId>{msg_id}</MsgId>", xml, count=1)
    xml = re.sub(r"<FromUserName>.*?</FromUserName>", f"<FromUserName><![CDATA[{openid}]]></FromUserName>", xml,
                 count=1, flags=re.S)
    return re.sub(r"<CreateTime>\s*\d+\s*</CreateTime>", f"<CreateTime>{int(time.time())}</CreateTime>", xml, count=1)


@pytest.fixture(scope="module")
def stack(redis_server, tmp_path_factory):
    var = tmp_path_factory.mktemp("pushes")
    fake = FakeWeChat(app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN, encoding_aes_key=AES_KEY, mode="safe").start()
    env = bot_env(redis_server.url, WECHAT_API_BASE_URL=fake.base_url, BOT_VAR_DIR=var)
    bot = BotProcesses(env, web_workers=2).start()
    fake.bot_url = bot.callback_url
    yield bot, var
    bot.stop()
    fake.stop()


#: Hostile variants of real pushes: still refused through gunicorn, in either mode.
HOSTILE = {
    "scancode_waitmsg.wechatpy1.xml": ("<ScanType><![CDATA[qrcode]]></ScanType>",
                                       "<ScanType><ScanType>qrcode</ScanType></ScanType>"),
    "pic_weixin.wechatpy1.xml": ("<item>", "<item><PicMd5Sum>0</PicMd5Sum></item>" * 21 + "<item>"),
    "masssendjobfinish.wechatpy1.xml": ("<ArticleIdx>1</ArticleIdx>", "<A><B><C><D><E>1</E></D></C></B></A>"),
    "text.wechatpy1.xml": ("<xml>", '<!DOCTYPE xml [<!ENTITY e "x">]><xml><E>&e;</E>'),
}


def test_every_documented_kind_has_a_fixture():
    assert DOCUMENTED <= {kind_of(p) for p in FIXTURES}


@pytest.mark.parametrize("mode", MODES)
def test_every_real_push_gets_200_and_an_answer_wechat_accepts(stack, mode):
    bot, var = stack
    pusher = Pusher(bot.callback_url, TOKEN, APP_ID, AES_KEY if mode == "safe" else "", mode=mode)
    answers = {}
    first_id = random.randrange(6 * 10**18, 7 * 10**18)
    for n, path in enumerate(FIXTURES):
        openid = f"oFixture{mode[:5]}{n:04d}".ljust(28, "0")
        response = pusher.push(fresh(path.read_text(encoding="utf-8"), openid, first_id + n))
        assert response.status_code == 200, (path.name, response.text[:200])
        reply = pusher.decode_reply(response)  # raises if WeChat would refuse the answer
        answers[path.name] = reply
        if reply is not None:
            assert reply["ToUserName"] == openid
            assert SORRY not in reply.get("Content", ""), path.name
        if kind_of(path) in ANSWERED:
            assert reply is not None and reply["MsgType"] == "text" and reply["Content"].strip(), path.name
        if kind_of(path) in SUCCESS:
            assert reply is None, (path.name, reply)
    # A code scanned with the menu is checked: www.qq.com and a look-alike domain are not official.
    assert "不是示例钱包的官方网址" in answers["scancode_waitmsg.written1.xml"]["Content"]
    assert "www.qq.com" in answers["scancode_waitmsg.werobot2.xml"]["Content"]
    log = (var / "logs" / "gunicorn.log").read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log and "handler failed" not in log


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_nesting_abuse_floods_and_entities_are_still_400(stack, mode, name):
    bot, _ = stack
    pusher = Pusher(bot.callback_url, TOKEN, APP_ID, AES_KEY if mode == "safe" else "", mode=mode)
    old, new = HOSTILE[name]
    xml = fresh((FIXTURES[0].parent / name).read_text(encoding="utf-8"), "oFixtureHostile0000000000001", 1)
    assert old in xml
    hostile = xml.replace(old, new, 1)
    assert pusher.push(hostile).status_code == 400
    if "ENTITY" not in hostile:  # well-formed: refused for its shape, not as broken XML
        ElementTree.fromstring(hostile)
