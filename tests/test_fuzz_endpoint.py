"""Property tests of the WeChat endpoint (hypothesis), in all three modes, in one process.

Whatever arrives — valid pushes with any content, pushes with fields dropped,
duplicated, emptied, made huge or garbled, truncated XML, odd encodings,
random bytes, hostile DTDs, tampered ciphertext, forged or stale query
arguments — the endpoint answers 200, 400, 403 or 413, never a 5xx, never a
traceback, and no exception reaches the app's last-resort handler or the
handler's fallback (both log one with its traceback, which is what we watch).
A correctly signed, fresh, valid push always gets 200 and a reply WeChat accepts.
"""
from __future__ import annotations

import itertools
import logging
import re
import time
from dataclasses import dataclass
from urllib.parse import quote
from xml.etree import ElementTree as ET

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from benchmarks.load import Answer, Credentials, PushSigner
from bot import create_app
from bot.sim import crypto
from bot.sim.pusher import MODES, PushBuilder, cdata, render, xml_field
from tests.helpers import AES_KEY, APP_ID, APP_SECRET, TOKEN, bot_settings

ALLOWED = {200, 400, 403, 413}
LIMIT = 64 * 1024
WINDOW = 300
REPLY_TYPES = {"text", "transfer_customer_service"}
FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class _Exceptions(logging.Handler):
    """Log records that carry a traceback: an exception the code did not expect."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        if record.exc_info:
            self.records.append(record)


@dataclass
class Bot:
    client: object
    signers: dict
    exceptions: _Exceptions

    def post(self, params, body: bytes, *, path="/wechat"):
        """POST and check what must hold for any request; returns the response."""
        self.exceptions.records.clear()
        response = self.client.post(path, query_string=params, data=body)
        check_answer(response)
        event(f"HTTP {response.status_code}")
        return response

    def no_exception(self) -> None:
        assert [r.getMessage() for r in self.exceptions.records] == []


def check_answer(response) -> None:
    assert response.status_code in ALLOWED, response.status_code
    body = response.get_data()
    assert b"Traceback" not in body and b'File "' not in body


@pytest.fixture(scope="module")
def bot(redis_server):
    app = create_app(bot_settings(redis_server.url))
    creds = Credentials(TOKEN, APP_ID, APP_SECRET, AES_KEY)
    exceptions = _Exceptions()
    root = logging.getLogger()
    root.addHandler(exceptions)
    yield Bot(app.test_client(), {mode: PushSigner(creds, mode) for mode in MODES}, exceptions)
    root.removeHandler(exceptions)


# --------------------------------------------------------------------------- strategies

openids = st.from_regex(r"\Ao[A-Za-z0-9_-]{27}\Z")
# Any Unicode a user can type (no lone surrogates: WeChat sends UTF-8), control characters included.
user_text = st.text(max_size=300)
media_ids = st.from_regex(r"\A[A-Za-z0-9_-]{10,64}\Z")
kf_accounts = st.from_regex(r"\A[A-Za-z0-9_]{1,10}@[A-Za-z0-9_-]{1,30}\Z")
modes = st.sampled_from(MODES)


# A new CreateTime for every push built: events are deduplicated on sender + CreateTime + event,
# and two draws in one second must not be taken for WeChat's retries of one push.
_create_times = itertools.count(int(time.time()))


@st.composite
def valid_pushes(draw) -> str:
    """Any push WeChat sends (protocol doc §2), with arbitrary user-controlled content."""
    b = PushBuilder(clock=lambda: next(_create_times))
    user = draw(openids)
    kind = draw(st.sampled_from(["text"] * 4 + ["image", "voice", "video", "shortvideo", "location", "link", "event"]))
    if kind == "text":
        return b.text(user, draw(user_text))
    media = {"media_id": draw(media_ids)}
    if kind == "voice":
        return b.voice(user, recognition=draw(st.none() | user_text), **media)
    if kind == "location":
        return b.location(user, x=draw(st.floats(-90, 90)), y=draw(st.floats(-180, 180)),
                          scale=draw(st.integers(1, 20)), label=draw(user_text))
    if kind == "link":
        return b.link(user, draw(user_text), title=draw(user_text), description=draw(user_text))
    if kind in ("video", "shortvideo"):
        media["thumb_media_id"] = draw(media_ids)
    if kind != "event":
        return b.message(user, kind, **media)
    event = draw(st.sampled_from(sorted(PushBuilder.EVENTS)))
    keys = st.sampled_from(["MENU_FAQ_HOT", "MENU_CONTACT", "MENU_VERIFY", "MENU_HUMAN", "MENU_FRAUD"]) | user_text
    fields = {
        "subscribe": lambda: {"scene": draw(st.none() | st.sampled_from(["verify", "support"]) | user_text),
                              "ticket": draw(media_ids)},
        "SCAN": lambda: {"scene": draw(keys), "ticket": draw(media_ids)},
        "CLICK": lambda: {"key": draw(keys)},
        "VIEW": lambda: {"url": draw(user_text)},
        "LOCATION": lambda: {"latitude": draw(st.floats(-90, 90)), "longitude": draw(st.floats(-180, 180))},
        "kf_create_session": lambda: {"kf_account": draw(kf_accounts)},
        "kf_close_session": lambda: {"kf_account": draw(kf_accounts)},
        "kf_switch_session": lambda: {"from_kf_account": draw(kf_accounts), "to_kf_account": draw(kf_accounts)},
    }.get(event, dict)()
    return b.event(user, event, **fields)


_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
FIELD_OPS = ("drop", "dup", "nest", "attr", "value", "empty", "huge", "rename", "extra")
TEXT_OPS = ("truncate", "splice", "delete")
# Huge values: near and past the 64 KiB cap, including long runs of letters and digits
# (masking was once quadratic on them).
huge_values = st.builds(lambda ch, n: ch * n, st.sampled_from(["字", " ", "😀", "<>&", "]]>", "a", "7", "a.", "x@"]),
                        st.integers(5_000, 70_000))
tag_names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.-]{0,15}\Z")
field_values = st.one_of(user_text, st.integers(-2**70, 2**70).map(str), st.sampled_from(["", " ", "0", "-1", "1e9"]))


@st.composite
def mutated_pushes(draw) -> tuple[str, list[tuple[str, str]]]:
    """A valid push with 1-3 field- or text-level mutations; also the (operation, field) list."""
    xml = draw(valid_pushes())
    fields = [(child.tag, child.text or "") for child in ET.fromstring(_xml_safe(xml))]
    parts = [f"<{tag}>{cdata(value)}</{tag}>" for tag, value in fields]
    done = []
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(FIELD_OPS))
        i = draw(st.integers(0, len(parts) - 1)) if parts else 0
        tag = fields[i][0] if parts else ""
        if not parts:
            op = "extra"
        if op == "drop":
            del parts[i], fields[i]
        elif op == "dup":
            parts.insert(i, parts[i])
            fields.insert(i, fields[i])
        elif op == "nest":
            parts[i] = f"<{tag}><{tag}>{cdata(draw(field_values))}</{tag}></{tag}>"
        elif op == "attr":
            parts[i] = parts[i].replace(f"<{tag}>", f'<{tag} a="{draw(st.integers(0, 9))}">', 1)
        elif op in ("value", "empty", "huge"):
            value = "" if op == "empty" else draw(field_values if op == "value" else huge_values)
            wrap = draw(st.sampled_from([cdata, _escape]))
            parts[i] = f"<{tag}>{wrap(value)}</{tag}>"
        elif op == "rename":
            new = draw(tag_names)
            parts[i] = parts[i].replace(f"<{tag}>", f"<{new}>", 1).replace(f"</{tag}>", f"</{new}>")
            fields[i] = (new, fields[i][1])
        else:  # an extra field WeChat never sends
            tag = draw(tag_names)
            parts.append(f"<{tag}>{cdata(draw(field_values))}</{tag}>")
            fields.append((tag, ""))
        done.append((op, tag))
    text = "<xml>" + "".join(parts) + "</xml>"
    for _ in range(draw(st.integers(0, 1))):
        op = draw(st.sampled_from(TEXT_OPS))
        at = draw(st.integers(0, len(text)))
        if op == "truncate":
            text = text[:at]
        elif op == "splice":
            text = text[:at] + draw(st.text(max_size=20)) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 20)):]
        done.append((op, ""))
    return text, done


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_safe(xml: str) -> str:
    """The push without the characters XML 1.0 forbids, for reading its fields here."""
    return _NOT_XML.sub("", xml)


@st.composite
def hostile_xml(draw) -> str:
    """A push carrying a DTD: entity expansion, external entities, parameter entities."""
    name = draw(st.from_regex(r"\A[a-z]{1,8}\Z"))
    kind = draw(st.sampled_from(["expansion", "external", "parameter"]))
    if kind == "expansion":
        depth = draw(st.integers(1, 9))
        decls = [f'<!ENTITY {name}0 "{draw(st.from_regex(r"[a-z]{1,10}", fullmatch=True))}">']
        decls += [f'<!ENTITY {name}{k} "{("&" + name + str(k - 1) + ";") * 10}">' for k in range(1, depth + 1)]
        ref = f"&{name}{depth};"
    elif kind == "external":
        url = draw(st.sampled_from(["file:///etc/passwd", "http://127.0.0.1:1/x", "/etc/hostname", "expect://id"]))
        decls, ref = [f'<!ENTITY {name} SYSTEM "{url}">'], f"&{name};"
    else:  # a parameter entity
        decls, ref = [f'<!ENTITY % {name} SYSTEM "file:///etc/passwd"> %{name};'], "x"
    body = draw(valid_pushes()).replace("<xml>", f"<xml><Hostile>{ref}</Hostile>", 1)
    return f'<?xml version="1.0"?><!DOCTYPE xml [{"".join(decls)}]>{body}'


# --------------------------------------------------------------------------- properties

@FUZZ
@given(xml=valid_pushes(), mode=modes)
def test_a_signed_fresh_valid_push_is_always_answered(bot, xml, mode):
    signer = bot.signers[mode]
    params, body = signer.prepare(xml)
    response = bot.post(params, body)
    assert response.status_code == 200, response.get_data()[:200]
    reply = signer.pusher.decode_reply(Answer(200, response.get_data()))  # raises if WeChat would refuse it
    if reply is not None:
        assert reply["MsgType"] in REPLY_TYPES
        assert reply["ToUserName"] == xml_field(xml, "FromUserName")
    bot.no_exception()


@FUZZ
@given(case=mutated_pushes(), mode=modes)
def test_mutated_pushes_never_fail_the_server(bot, case, mode):
    text, done = case
    if mode != "plaintext" and "</xml>" not in text:
        text += "</xml>"  # compatible mode appends <Encrypt> before the last </xml>
    params, body = bot.signers[mode].prepare(text)
    response = bot.post(params, body)
    if len(body) > LIMIT:
        assert response.status_code == 413
    bot.no_exception()


@FUZZ
@given(body=st.one_of(st.binary(max_size=2000), st.text(max_size=2000).map(lambda t: t.encode("utf-8", "surrogatepass"))),
       mode=modes)
def test_random_bodies_are_refused_cleanly(bot, body, mode):
    params, _ = bot.signers[mode].prepare(PushBuilder().text("oFuzzRandomBody000000000000001", "x"))
    response = bot.post(params, body)
    assert response.status_code in {200, 400, 403}
    bot.no_exception()


@FUZZ
@given(xml=valid_pushes(), encoding=st.sampled_from(["utf-16", "utf-16-le", "utf-32", "gb18030", "big5", "latin-1",
                                                       "cp1252", "shift_jis"]),
       declare=st.booleans())
def test_odd_encodings_are_refused_or_answered(bot, xml, encoding, declare):
    params, _ = bot.signers["plaintext"].prepare(xml)
    text = (f'<?xml version="1.0" encoding="{encoding}"?>' if declare else "") + xml
    body = text.encode(encoding, errors="replace")
    response = bot.post(params, body)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        assert response.status_code == 400
    # Otherwise (UTF-16 of ASCII is NULs between ASCII, which is UTF-8) the NULs are dropped like any
    # control character a user types, and the push may be answered.
    assert response.status_code in {200, 400}
    bot.no_exception()


@FUZZ
@given(xml=hostile_xml(), mode=modes)
def test_hostile_xml_is_400_and_never_expanded(bot, xml, mode):
    params, body = bot.signers[mode].prepare(xml)
    response = bot.post(params, body)
    assert response.status_code == 400
    assert b"root:" not in response.get_data()
    bot.no_exception()


@st.composite
def tampered_envelopes(draw) -> tuple[str, str]:
    """An <Encrypt> value that is not what WeChat sent: bit flips, cuts, junk, another key or appid."""
    xml = draw(valid_pushes())
    how = draw(st.sampled_from(["flip", "cut", "append", "junk", "other_key", "other_appid", "empty"]))
    encrypted = crypto.encrypt(AES_KEY, APP_ID, xml)
    if how == "flip":
        i = draw(st.integers(0, len(encrypted) - 1))
        alphabet = crypto.KEY_ALPHABET + "+/="
        encrypted = encrypted[:i] + draw(st.sampled_from(alphabet)) + encrypted[i + 1:]
    elif how == "cut":
        encrypted = encrypted[: draw(st.integers(0, len(encrypted) - 1))]
    elif how == "append":
        encrypted += draw(st.text(max_size=40))
    elif how == "junk":
        encrypted = draw(st.text(max_size=200))
    elif how == "other_key":
        encrypted = crypto.encrypt(crypto.new_aes_key(), APP_ID, xml)
    elif how == "other_appid":
        encrypted = crypto.encrypt(AES_KEY, draw(st.from_regex(r"\Awx[a-z0-9]{0,16}\Z")), xml)
    else:
        encrypted = ""
    return encrypted, how


@FUZZ
@given(case=tampered_envelopes(), resign=st.booleans())
def test_tampered_ciphertext_is_refused(bot, case, resign):
    encrypted, how = case
    params, _ = bot.signers["safe"].prepare(PushBuilder().text("oFuzzEnvelope0000000000000001", "x"))
    if resign:  # a msg_signature that matches the tampered ciphertext: decryption itself must refuse it
        params["msg_signature"] = crypto.signature(TOKEN, params["timestamp"], params["nonce"], encrypted)
    body = render({"ToUserName": "gh_demo_wallet", "Encrypt": encrypted}).encode("utf-8")
    response = bot.post(params, body)
    if not resign:
        assert response.status_code == 403
    elif how not in ("flip", "append"):
        assert response.status_code in {400, 403}
    # Re-signed flips and appends can still decrypt (base64 skips junk; a flip may hit a pad byte),
    # but only someone holding the token can sign them.
    bot.no_exception()


QUERY_KEYS = ("signature", "timestamp", "nonce", "encrypt_type", "msg_signature", "openid")


@FUZZ
@given(mode=modes, key=st.sampled_from(QUERY_KEYS), how=st.sampled_from(["drop", "random", "empty", "long", "resigned"]),
       value=st.text(max_size=60), skew=st.integers(-10**10, 10**10))
def test_forged_or_stale_query_arguments_are_refused(bot, mode, key, how, value, skew):
    signer = bot.signers[mode]
    params, body = signer.prepare(PushBuilder().text("oFuzzQuery00000000000000000001", "你好"))
    if how == "drop":
        params.pop(key, None)
    elif how == "resigned" and key in ("timestamp", "nonce"):
        # Correctly signed, but stale or empty: only freshness or the nonce rule can refuse it.
        params[key] = str(int(time.time()) + skew) if key == "timestamp" else value
        params["signature"] = crypto.signature(TOKEN, params["timestamp"], params["nonce"])
        if "msg_signature" in params:
            encrypted = xml_field(body.decode("utf-8"), "Encrypt")
            params["msg_signature"] = crypto.signature(TOKEN, params["timestamp"], params["nonce"], encrypted)
    else:
        params[key] = {"random": value, "empty": "", "long": value * 200 or "x" * 4000}.get(how, value)
    response = bot.post(params, body)
    if params.get("signature") != crypto.signature(TOKEN, params.get("timestamp", ""), params.get("nonce", "")):
        assert response.status_code == 403
    if key == "timestamp" and how == "resigned" and abs(skew) > WINDOW + 5:
        assert response.status_code == 403
    if key == "nonce" and how == "resigned" and value == "":
        assert response.status_code == 403
    bot.no_exception()


@FUZZ
@given(query=st.text(max_size=300), body=st.binary(max_size=300), method=st.sampled_from(["GET", "POST"]))
def test_raw_query_strings_never_fail_the_server(bot, query, body, method):
    bot.exceptions.records.clear()
    url = "/wechat?" + quote(query, safe="=&%+")
    response = bot.client.open(url, method=method, data=body)
    check_answer(response)
    assert response.status_code in {403, 400}
    bot.no_exception()


@FUZZ
@given(echostr=st.text(max_size=200), forged=st.none() | st.from_regex(r"\A[0-9a-f]{40}\Z") | st.text(max_size=50))
def test_url_check_echoes_only_when_signed(bot, echostr, forged):
    params, _ = bot.signers["plaintext"].prepare(PushBuilder().text("x", "x"))
    params = {k: params[k] for k in ("signature", "timestamp", "nonce")}
    good = forged is None or forged == params["signature"]
    if not good:
        params["signature"] = forged
    params["echostr"] = echostr
    bot.exceptions.records.clear()
    response = bot.client.get("/wechat", query_string=params)
    check_answer(response)
    if good:
        assert response.status_code == 200 and response.get_data(as_text=True) == echostr
    else:
        assert response.status_code == 403 and (not echostr or response.get_data(as_text=True) != echostr)
    bot.no_exception()


@FUZZ
@given(size=st.integers(LIMIT - 3000, LIMIT + 3000), mode=modes)
def test_bodies_over_the_cap_are_413(bot, size, mode):
    params, _ = bot.signers[mode].prepare(PushBuilder().text("oFuzzSize000000000000000000001", "x"))
    body = b"<xml><Content><![CDATA[" + b"a" * max(0, size - 40) + b"]]></Content></xml>"
    response = bot.post(params, body)
    assert (response.status_code == 413) == (len(body) > LIMIT)
    bot.no_exception()
