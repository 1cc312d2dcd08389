"""bot.pushes: signature, freshness, decryption and hostile-XML refusal, without HTTP."""
import pytest
from wechatpy.crypto import WeChatCrypto

from bot.pushes import Refused, check_fresh, decode_push, dedupe_key, verify_signature
from bot.sim import crypto as sim_crypto
from bot.sim.pusher import PushBuilder

TOKEN, APPID = "tok", "wx0123456789abcdef"
KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def signed(ts="1700000000", nonce="42", token=TOKEN):
    return {"signature": sim_crypto.signature(token, ts, nonce), "timestamp": ts, "nonce": nonce}


def test_signature_accepts_wechats_and_refuses_others():
    verify_signature(TOKEN, signed())
    with pytest.raises(Refused) as err:
        verify_signature(TOKEN, signed(token="other"))
    assert err.value.status == 403
    with pytest.raises(Refused):
        verify_signature(TOKEN, {})


@pytest.mark.parametrize("ts,ok", [("1000", True), ("1299", True), ("701", True), ("1301", False), ("699", False),
                                   ("abc", False), ("", False)])
def test_freshness_window(ts, ok):
    if ok:
        check_fresh(ts, now=1000, window=300)
    else:
        with pytest.raises(Refused) as err:
            check_fresh(ts, now=1000, window=300)
        assert err.value.status == 403


def test_plaintext_message_parses():
    xml = PushBuilder().text("oUser1", "提现失败怎么办")
    push = decode_push(xml.encode(), signed(), None)
    assert push.message.type == "text" and push.message.content == "提现失败怎么办"
    assert not push.encrypted


def test_control_characters_in_user_text_are_dropped_not_refused():
    xml = PushBuilder().text("oUser1", "你好\x1d\x08世界")
    push = decode_push(xml.encode(), signed(), None)
    assert push.message.content == "你好世界"


BILLION_LAUGHS = """<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>
<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol3;</Content><MsgId>1</MsgId></xml>"""
XXE = """<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><ToUserName>a</ToUserName>
<FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&e;</Content><MsgId>1</MsgId></xml>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, "<xml><unclosed>", "not xml at all", "<xml></xml>",
                                  "<xml><MsgType>text</MsgType></xml>", "<other><MsgType>text</MsgType></other>"])
def test_hostile_or_malformed_xml_is_400(body):
    with pytest.raises(Refused) as err:
        decode_push(body.encode(), signed(), None)
    assert err.value.status == 400


def test_non_utf8_body_is_400():
    with pytest.raises(Refused) as err:
        decode_push("<xml>\u00e9</xml>".encode("latin-1"), signed(), None)
    assert err.value.status == 400


def _safe_args(xml, token=TOKEN, appid=APPID, key=KEY):
    encrypted = sim_crypto.encrypt(key, appid, xml)
    args = {**signed(token=token), "encrypt_type": "aes"}
    args["msg_signature"] = sim_crypto.signature(token, args["timestamp"], args["nonce"], encrypted)
    body = f"<xml><ToUserName><![CDATA[gh_demo]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    return body.encode(), args


def test_safe_mode_decrypts():
    body, args = _safe_args(PushBuilder().text("oUser1", "冻结了"))
    push = decode_push(body, args, WeChatCrypto(TOKEN, KEY, APPID))
    assert push.encrypted and push.message.content == "冻结了"


def test_safe_mode_wrong_msg_signature_is_403():
    body, args = _safe_args(PushBuilder().text("oUser1", "hi"))
    args["msg_signature"] = "0" * 40
    with pytest.raises(Refused) as err:
        decode_push(body, args, WeChatCrypto(TOKEN, KEY, APPID))
    assert err.value.status == 403


def test_safe_mode_other_appid_is_403():
    body, args = _safe_args(PushBuilder().text("oUser1", "hi"), appid="wxOTHERAPP0000000")
    with pytest.raises(Refused) as err:
        decode_push(body, args, WeChatCrypto(TOKEN, KEY, APPID))
    assert err.value.status == 403


def test_safe_mode_wrong_key_is_refused():
    other_key = "B" * 43
    body, args = _safe_args(PushBuilder().text("oUser1", "hi"), key=other_key)
    with pytest.raises(Refused) as err:
        decode_push(body, args, WeChatCrypto(TOKEN, KEY, APPID))
    assert err.value.status in (400, 403)


def test_safe_push_without_configured_key_is_refused():
    body, args = _safe_args(PushBuilder().text("oUser1", "hi"))
    with pytest.raises(Refused) as err:
        decode_push(body, args, None)
    assert err.value.status == 403


def test_dedupe_keys():
    builder = PushBuilder()
    a = decode_push(builder.text("oU", "a").encode(), signed(), None).message
    b = decode_push(builder.text("oU", "a").encode(), signed(), None).message
    assert dedupe_key(a).startswith("msg:") and dedupe_key(a) != dedupe_key(b)
    ev = decode_push(builder.click("oU", "MENU_HUMAN").encode(), signed(), None).message
    assert dedupe_key(ev) == f"ev:oU:{ev.time}:click:MENU_HUMAN"
    other = decode_push(builder.click("oU", "MENU_CONTACT").encode(), signed(), None).message
    assert dedupe_key(other) != dedupe_key(ev)
    sub = decode_push(builder.subscribe("oU").encode(), signed(), None).message
    assert dedupe_key(sub) == f"ev:oU:{sub.time}:subscribe"


HEAD = "<xml><ToUserName>gh</ToUserName><CreateTime>1</CreateTime>"


@pytest.mark.parametrize("body", [
    HEAD + "<FromUserName>oU1</FromUserName><FromUserName>oU2</FromUserName><MsgType>text</MsgType>"
           "<Content>x</Content><MsgId>9</MsgId></xml>",
    HEAD + "<FromUserName>oU1</FromUserName><MsgType>text</MsgType><Content a='1'>x</Content><MsgId>9</MsgId></xml>",
    HEAD + "<FromUserName>oU1</FromUserName><MsgType>text</MsgType><Content>x</Content><MsgId>abc</MsgId></xml>",
    HEAD + "<FromUserName><a>1</a></FromUserName><MsgType>text</MsgType><Content>x</Content><MsgId>9</MsgId></xml>",
    "<xml><ToUserName>gh</ToUserName><FromUserName>oU1</FromUserName><CreateTime>soon</CreateTime>"
    "<MsgType>event</MsgType><Event>CLICK</Event><EventKey>K</EventKey></xml>",
    HEAD + "<FromUserName>oU1</FromUserName><MsgType>event</MsgType><Event>CLICK</Event>"
           "<EventKey>A</EventKey><EventKey>B</EventKey></xml>",
])
def test_repeated_nested_or_non_numeric_fields_are_400(body):
    with pytest.raises(Refused) as err:
        decode_push(body.encode(), signed(), None)
    assert err.value.status == 400


def test_kf_event_without_account_is_accepted():
    body = HEAD + "<FromUserName>oU1</FromUserName><MsgType>event</MsgType><Event>kf_create_session</Event></xml>"
    assert decode_push(body.encode(), signed(), None).message.account is None


# --- nested blocks of WeChat's own events (bot.push_blocks) ---------------------------------------

FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures" / "pushes"
SCAN_HEAD = (HEAD + "<FromUserName>oU1</FromUserName><MsgType>event</MsgType><Event>scancode_waitmsg</Event>"
             "<EventKey>K</EventKey>")
PICS_HEAD = (HEAD + "<FromUserName>oU1</FromUserName><MsgType>event</MsgType><Event>pic_weixin</Event>"
             "<EventKey>K</EventKey>")


def _pics(n: int) -> str:
    items = "".join(f"<item><PicMd5Sum>{i:032x}</PicMd5Sum></item>" for i in range(n))
    return PICS_HEAD + f"<SendPicsInfo><Count>{n}</Count><PicList>{items}</PicList></SendPicsInfo></xml>"


@pytest.mark.parametrize("name", ["scancode_push.wechatpy1.xml", "pic_sysphoto.werobot3.xml",
                                  "location_select.werobot2.xml", "shakearoundusershake.wechatpy1.xml",
                                  "shakearoundusershake.written1.xml", "masssendjobfinish.wechatpy1.xml"])
def test_nested_blocks_wechat_sends_are_accepted(name):
    message = decode_push((FIXTURES / name).read_bytes(), signed(), None).message
    assert message.type == "event"


def test_block_contents_reach_the_handler():
    message = decode_push(_pics(9).encode(), signed(), None).message
    assert message.count == 9 and len(message.pictures) == 9
    scan = decode_push((SCAN_HEAD + "<ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>https://x.cn</ScanResult>"
                        "</ScanCodeInfo></xml>").encode(), signed(), None).message
    assert scan.scan_result == "https://x.cn"


DEEP = "".join(f"<L{i}>" for i in range(8)) + "x" + "".join(f"</L{i}>" for i in reversed(range(8)))


@pytest.mark.parametrize("body", [
    SCAN_HEAD + "<ScanCodeInfo><ScanType>qrcode</ScanType><Extra>1</Extra></ScanCodeInfo></xml>",       # unknown child
    SCAN_HEAD + "<ScanCodeInfo a='1'><ScanType>qrcode</ScanType></ScanCodeInfo></xml>",                 # attribute
    SCAN_HEAD + "<ScanCodeInfo><ScanType><ScanType>q</ScanType></ScanType></ScanCodeInfo></xml>",       # nested leaf
    SCAN_HEAD + "<ScanCodeInfo><ScanType>a</ScanType><ScanType>b</ScanType></ScanCodeInfo></xml>",      # repeated leaf
    SCAN_HEAD + "<ScanCodeInfo><ScanType>q</ScanType></ScanCodeInfo><ScanCodeInfo/></xml>",             # repeated block
    SCAN_HEAD + "<ScanCodeInfo>just text</ScanCodeInfo></xml>",                                         # text, not a block
    SCAN_HEAD + f"<ScanCodeInfo><ScanResult>{'x' * 5000}</ScanResult></ScanCodeInfo></xml>",            # over the size bound
    _pics(21),                                                                                          # a picture flood
    SCAN_HEAD + f"<Unread>{DEEP}</Unread></xml>",                                                       # deep nesting anywhere
    HEAD + "<FromUserName>oU1</FromUserName><MsgType>text</MsgType><Content>x</Content><MsgId>9</MsgId>"
           + "<E/>" * 1001 + "</xml>",                                                                  # an element flood
])
def test_blocks_not_shaped_as_wechat_sends_them_are_400(body):
    with pytest.raises(Refused) as err:
        decode_push(body.encode(), signed(), None)
    assert err.value.status == 400
