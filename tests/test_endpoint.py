"""The WeChat endpoint in one process: every mode, every message kind, every refusal."""
from __future__ import annotations

import time

import pytest
import requests

from bot import create_app
from bot.sim import crypto as sim_crypto
from bot.sim.pusher import PushBuilder, Pusher
from tests.helpers import AES_KEY, APP_ID, TOKEN, ServedApp, bot_settings

USER = "oEndpointUser000000000000001"


@pytest.fixture
def served(redis_server):
    app = create_app(bot_settings(redis_server.url))
    with ServedApp(app) as served:
        served.services = app.extensions["wxbot"]
        yield served


def pusher(served, mode="plaintext", **kwargs):
    return Pusher(served.url + "/wechat", TOKEN, APP_ID, AES_KEY if mode != "plaintext" else "", mode=mode, **kwargs)


build = PushBuilder()


# --- URL verification (GET) ---------------------------------------------------------------

def test_get_with_good_signature_echoes(served):
    response = pusher(served).verify_url("echo-123")
    assert response.status_code == 200
    assert response.text == "echo-123"
    assert response.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("params", [{}, {"signature": "bad", "timestamp": "1", "nonce": "2", "echostr": "x"}])
def test_get_with_bad_or_missing_signature_is_403(served, params):
    response = requests.get(served.url + "/wechat", params=params, timeout=5)
    assert response.status_code == 403
    assert "x" not in response.text


# --- the three modes -------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["plaintext", "compatible", "safe"])
def test_text_answered_in_every_mode(served, mode):
    p = pusher(served, mode)
    response = p.push(build.text(USER, "你好"))
    assert response.status_code == 200
    reply = p.decode_reply(response)  # verifies MsgSignature and appid in the encrypted modes
    assert reply["MsgType"] == "text"
    assert reply["ToUserName"] == USER
    assert reply["Content"]
    if mode == "safe":
        assert "<Encrypt>" in response.text and "<Content>" not in response.text


def test_safe_push_with_wrong_msg_signature_is_403(served):
    xml = build.text(USER, "你好")
    encrypted = sim_crypto.encrypt(AES_KEY, APP_ID, xml)
    ts, nonce = str(int(time.time())), "777001"
    params = {"signature": sim_crypto.signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce,
              "encrypt_type": "aes", "msg_signature": "f" * 40, "openid": USER}
    body = f"<xml><ToUserName><![CDATA[gh_demo]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    response = requests.post(served.url + "/wechat", params=params, data=body.encode(), timeout=5)
    assert response.status_code == 403
    assert served.services.storage.handled_counts() == {}


def test_safe_push_for_another_appid_is_403(served):
    p = Pusher(served.url + "/wechat", TOKEN, "wxSOMEONEELSE0001", AES_KEY, mode="safe")
    response = p.push(build.text(USER, "你好"))
    assert response.status_code == 403
    assert served.services.storage.handled_counts() == {}


# --- signature, freshness, replay ----------------------------------------------------------

def test_post_with_bad_signature_is_403(served):
    response = requests.post(served.url + "/wechat", params={"signature": "0" * 40, "timestamp": str(int(time.time())),
                                                             "nonce": "1"}, data=build.text(USER, "hi"), timeout=5)
    assert response.status_code == 403


@pytest.mark.parametrize("skew", [-301, 400, -86400])
def test_stale_timestamp_is_403(served, skew):
    response = pusher(served).push(build.text(USER, "你好"), timestamp=int(time.time()) + skew)
    assert response.status_code == 403


def test_replayed_nonce_is_403(served):
    p = pusher(served)
    ts = int(time.time())
    first = p.push(build.text(USER, "你好"), timestamp=ts, nonce="5550001")
    assert first.status_code == 200
    replay = p.push(build.text(USER, "你好"), timestamp=ts, nonce="5550001")
    assert replay.status_code == 403


def test_retry_gets_identical_reply_and_is_handled_once(served):
    p = pusher(served, "safe")
    xml = build.text(USER, "提现失败怎么办")
    answers = [p.push(xml) if i == 0 else p.retry(xml) for i in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].content == answers[1].content == answers[2].content
    assert sum(served.services.storage.handled_counts().values()) == 1


# --- bad input ---------------------------------------------------------------------------------

def test_oversized_body_is_413(served):
    big = build.text(USER, "字" * 30000)  # 90 KB of UTF-8
    response = pusher(served).push(big)
    assert response.status_code == 413


@pytest.mark.parametrize("body", [
    "<xml><unclosed>",
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><xml><Content>&b;</Content></xml>',
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>',
    "",
])
def test_malformed_or_hostile_xml_is_400_without_traceback(served, body):
    response = pusher(served).push(body, openid=USER)
    assert response.status_code == 400
    assert "Traceback" not in response.text and "File " not in response.text


def test_control_characters_in_user_text_still_get_an_answer(served):
    p = pusher(served)
    reply = p.decode_reply(p.push(build.text(USER, "提现\x1d失败")))
    assert reply["MsgType"] == "text"


# --- every message kind ------------------------------------------------------------------------

def _reply(served, xml, mode="plaintext"):
    p = pusher(served, mode)
    response = p.push(xml)
    assert response.status_code == 200, response.text
    return p.decode_reply(response)


def test_voice_with_recognition_is_answered_like_text(served):
    by_voice = _reply(served, build.voice(USER, recognition="转人工"))
    assert by_voice["MsgType"] == "transfer_customer_service"


def test_voice_without_recognition_asks_to_type(served):
    reply = _reply(served, build.voice(USER))
    assert "打字" in reply["Content"]


@pytest.mark.parametrize("kind,word", [("image", "图片"), ("video", "视频"), ("shortvideo", "小视频")])
def test_media_gets_friendly_answer_with_capabilities(served, kind, word):
    reply = _reply(served, build.message(USER, kind))
    assert word in reply["Content"] and "人工" in reply["Content"]


def test_location_and_link(served):
    assert "位置" in _reply(served, build.location(USER))["Content"]
    checked = _reply(served, build.link(USER, "https://news.example.org/a", title="新闻"))["Content"]
    assert "核实结果" in checked and "news.example.org" in checked and "不是示例钱包的官方网址" in checked


def test_subscribe_welcomes_and_lists_what_the_bot_does(served):
    reply = _reply(served, build.subscribe(USER))
    brand = served.services.brand
    assert brand["brand_name"] in reply["Content"] and "核验" in reply["Content"] and "人工" in reply["Content"]


def test_subscribe_with_qr_scene_adds_the_scene_line(served):
    reply = _reply(served, build.subscribe(USER, scene="verify"))
    assert "核验客服" in reply["Content"]


def test_unsubscribe_clears_state(served):
    storage = served.services.storage
    storage.set_kf_session(USER, "active", "kf1001@demo")
    assert _reply(served, build.unsubscribe(USER)) is None
    assert storage.get_kf_session(USER) is None


def test_menu_click_human_starts_a_handoff_in_words(served):
    reply = _reply(served, build.click(USER, "MENU_HUMAN"))   # WeChat ignores a transfer in reply to an event
    assert reply["MsgType"] == "text" and "转接人工客服" in reply["Content"]
    assert served.services.storage.get_kf_session(USER)["state"] == "waiting"
    assert _reply(served, build.text(USER, "提现失败"))["MsgType"] == "transfer_customer_service"


def test_menu_click_faq_answers(served):
    reply = _reply(served, build.click(USER, "MENU_CONTACT"))
    assert served.services.brand["hotline"] in reply["Content"]


def test_view_scan_and_location_events_are_quiet_or_scene_specific(served):
    assert _reply(served, build.view(USER, "https://wallet.example.com")) is None
    assert _reply(served, build.location_event(USER)) is None
    assert "核验" in _reply(served, build.scan(USER, "verify"))["Content"]


def test_kf_session_events_are_recorded(served):
    storage = served.services.storage
    assert _reply(served, build.kf_create_session(USER, "kf1001@demo_wallet_official")) is None
    assert storage.get_kf_session(USER)["account"] == "kf1001@demo_wallet_official"
    # While an agent holds the session, messages that still arrive are passed to customer service.
    reply = _reply(served, build.text(USER, "提现失败怎么办"))
    assert reply["MsgType"] == "transfer_customer_service"
    assert reply.get("TransInfo", {}).get("KfAccount") == "kf1001@demo_wallet_official"
    _reply(served, build.kf_switch_session(USER, "kf1001@demo_wallet_official", "kf1002@demo_wallet_official"))
    assert storage.get_kf_session(USER)["account"] == "kf1002@demo_wallet_official"
    _reply(served, build.kf_close_session(USER, "kf1002@demo_wallet_official"))
    assert storage.get_kf_session(USER) is None


def test_unknown_kinds_answer_success(served):
    head = f"<xml><ToUserName>gh_demo</ToUserName><FromUserName>{USER}</FromUserName><CreateTime>{int(time.time())}</CreateTime>"
    unknown_event = head + "<MsgType>event</MsgType><Event>some_future_event</Event></xml>"
    unknown_message = head + "<MsgType>hologram</MsgType><MsgId>123456789</MsgId></xml>"
    for xml in (unknown_event, unknown_message):
        response = pusher(served).push(xml)
        assert response.status_code == 200 and response.text == "success"


def test_healthz(served):
    data = requests.get(served.url + "/healthz", timeout=5).json()
    assert data["status"] == "ok" and data["redis"] == "ok"
    assert data["faq_count"] >= 20
    assert data["version"]


def test_a_bad_registry_edit_keeps_serving_and_shows_in_healthz(redis_server, tmp_path):
    import shutil

    from config.settings import PROJECT_ROOT

    channels = tmp_path / "official_channels.json"
    shutil.copy(PROJECT_ROOT / "config" / "official_channels.json", channels)
    app = create_app(bot_settings(redis_server.url, BOT_CHANNELS_FILE=channels, BOT_RELOAD_INTERVAL=0))
    with ServedApp(app) as served:
        channels.write_text("{ this is not json", encoding="utf-8")
        health = requests.get(served.url + "/healthz", timeout=5).json()
        assert health["status"] == "degraded" and health["files"]["official_channels"]["error"]
        reply = pusher(served).decode_reply(pusher(served).push(build.text(USER, "KF1003 是你们的客服吗")))
        assert "KF1003" in reply["Content"] and "官方" in reply["Content"]


def test_unmatched_messages_are_counted_masked_including_the_second_in_a_row(served):
    storage = served.services.storage
    p = pusher(served)
    user = "oUnmatched0000000000000000001"
    first = p.decode_reply(p.push(build.text(user, "火星上能用吗 我手机13812345678")))
    second = p.decode_reply(p.push(build.text(user, "木星上呢")))
    assert first["MsgType"] == "text"                              # the fallback
    assert second["MsgType"] == "transfer_customer_service"        # two in a row: a person takes over
    counted = dict(storage.top_unmatched(10))
    assert counted == {"火星上能用吗 我手机138****5678": 1, "木星上呢": 1}
    greeting = p.decode_reply(p.push(build.text("oUnmatched0000000000000000002", "你好")))
    assert greeting["MsgType"] == "text" and len(storage.top_unmatched(10)) == 2


def test_the_callback_is_answered_beside_flask_and_errors_stay_plain(served, monkeypatch):
    """The callback URL's fast path: other methods still get Flask's 405, /healthz is Flask's, and
    an error outside the handlers is "success", never a traceback, as through Flask."""
    assert requests.put(served.url + "/wechat", data=b"x", timeout=5).status_code == 405
    assert requests.get(served.url + "/healthz", timeout=5).json()["status"] in ("ok", "degraded")
    import bot.endpoint

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(bot.endpoint, "_accept", broken)
    response = pusher(served).push(build.text(USER, "你好"))
    assert (response.status_code, response.text) == (200, "success")
