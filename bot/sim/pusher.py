"""What WeChat sends to the bot's URL: the push XML, its signing/encryption, and the reply decoding.

`PushBuilder` renders every message and event kind WeChat pushes (protocol doc §2)
in WeChat's own layout: strings in CDATA, numbers bare, MsgId a unique 64-bit
integer. `Pusher` POSTs a push in plaintext, compatible or safe mode exactly as
WeChat does (query signature/timestamp/nonce/openid, plus encrypt_type and
msg_signature when encrypted) and decodes the passive reply (§3), verifying an
encrypted reply with this package's own crypto.
"""
from __future__ import annotations

import itertools
import random
import re
import time
import xml.etree.ElementTree as ET

import defusedxml.ElementTree as SafeET
import requests

from bot.sim import crypto

MODES = ("plaintext", "compatible", "safe")
DEFAULT_ACCOUNT = "gh_demo_wallet"

# Real MsgIds are large 64-bit integers; start somewhere random so runs differ.
_msg_ids = itertools.count(random.randrange(6_000_000_000_000_000_000, 7_000_000_000_000_000_000))


class ReplyError(Exception):
    """The bot's passive reply is not something WeChat would accept."""


def cdata(text: str) -> str:
    """`text` inside CDATA; a `]]>` in it is split across two sections."""
    return "<![CDATA[" + str(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _value(value) -> str:
    if isinstance(value, bool):
        raise TypeError("booleans have no XML form here")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6f}"
    return cdata(value)


def render(fields: dict) -> str:
    """`<xml>` with one child per field, in order; None values are left out."""
    body = "".join(f"<{k}>{_value(v)}</{k}>" for k, v in fields.items() if v is not None)
    return f"<xml>{body}</xml>"


def xml_field(xml: str, name: str) -> str | None:
    """One top-level field of a push, read without parsing (a push may hold control characters)."""
    match = re.search(rf"<{name}>(?:<!\[CDATA\[(.*?)\]\]>|([^<]*))</{name}>", xml, re.S)
    return None if match is None else (match.group(1) if match.group(1) is not None else match.group(2))


class PushBuilder:
    """Push XML for one official account (ToUserName = its gh_ original ID)."""

    MESSAGE_KINDS = ("text", "image", "voice", "video", "shortvideo", "location", "link")

    def __init__(self, account_id: str = DEFAULT_ACCOUNT, clock=time.time):
        self.account_id = account_id
        self.clock = clock

    def _head(self, openid: str, msg_type: str) -> dict:
        return {"ToUserName": self.account_id, "FromUserName": openid,
                "CreateTime": int(self.clock()), "MsgType": msg_type}

    def _message(self, openid: str, msg_type: str, **fields) -> str:
        return render({**self._head(openid, msg_type), **fields, "MsgId": next(_msg_ids)})

    def _event(self, openid: str, event: str, **fields) -> str:
        return render({**self._head(openid, "event"), "Event": event, **fields})

    # --- user messages ---
    def text(self, openid, content):
        return self._message(openid, "text", Content=content)

    def image(self, openid, pic_url="http://mmbiz.qpic.cn/mmbiz_jpg/demo/0", media_id=None):
        return self._message(openid, "image", PicUrl=pic_url, MediaId=media_id or _media_id())

    def voice(self, openid, media_id=None, format="amr", recognition=None):
        return self._message(openid, "voice", MediaId=media_id or _media_id(), Format=format,
                             Recognition=recognition)

    def video(self, openid, media_id=None, thumb_media_id=None):
        return self._message(openid, "video", MediaId=media_id or _media_id(),
                             ThumbMediaId=thumb_media_id or _media_id())

    def shortvideo(self, openid, media_id=None, thumb_media_id=None):
        return self._message(openid, "shortvideo", MediaId=media_id or _media_id(),
                             ThumbMediaId=thumb_media_id or _media_id())

    def location(self, openid, x=31.230416, y=121.473701, scale=15, label="上海市黄浦区人民大道"):
        return self._message(openid, "location", Location_X=float(x), Location_Y=float(y),
                             Scale=int(scale), Label=label)

    def link(self, openid, url, title="链接", description=""):
        return self._message(openid, "link", Title=title, Description=description, Url=url)

    def message(self, openid: str, kind: str, **fields) -> str:
        if kind not in self.MESSAGE_KINDS:
            raise ValueError(f"unknown message kind {kind!r}; one of {self.MESSAGE_KINDS}")
        return getattr(self, kind)(openid, **fields)

    # --- events ---
    def subscribe(self, openid, scene=None, ticket=None):
        if scene is None:
            return self._event(openid, "subscribe")
        return self._event(openid, "subscribe", EventKey=f"qrscene_{scene}", Ticket=ticket or _ticket())

    def unsubscribe(self, openid):
        return self._event(openid, "unsubscribe")

    def scan(self, openid, scene, ticket=None):
        return self._event(openid, "SCAN", EventKey=str(scene), Ticket=ticket or _ticket())

    def location_event(self, openid, latitude=31.230416, longitude=121.473701, precision=65.0):
        return self._event(openid, "LOCATION", Latitude=float(latitude), Longitude=float(longitude),
                           Precision=float(precision))

    def click(self, openid, key):
        return self._event(openid, "CLICK", EventKey=key)

    def view(self, openid, url):
        return self._event(openid, "VIEW", EventKey=url)

    def scancode_waitmsg(self, openid, result="https://wallet.example.com/", key="MENU_SCAN", scan_type="qrcode"):
        """The menu's scan button (the client waits for the answer), with its nested ScanCodeInfo."""
        return self._scancode(openid, "scancode_waitmsg", result, key, scan_type)

    def scancode_push(self, openid, result="https://wallet.example.com/", key="MENU_SCAN", scan_type="qrcode"):
        return self._scancode(openid, "scancode_push", result, key, scan_type)

    def _scancode(self, openid, event, result, key, scan_type) -> str:
        xml = self._event(openid, event, EventKey=key)
        block = f"<ScanCodeInfo><ScanType>{cdata(scan_type)}</ScanType><ScanResult>{cdata(result)}</ScanResult></ScanCodeInfo>"
        return xml[: xml.rindex("</xml>")] + block + "</xml>"

    def kf_create_session(self, openid, kf_account):
        return self._event(openid, "kf_create_session", KfAccount=kf_account)

    def kf_close_session(self, openid, kf_account):
        return self._event(openid, "kf_close_session", KfAccount=kf_account)

    def kf_switch_session(self, openid, from_kf_account, to_kf_account):
        return self._event(openid, "kf_switch_session", FromKfAccount=from_kf_account,
                           ToKfAccount=to_kf_account)

    EVENTS = {"subscribe": "subscribe", "unsubscribe": "unsubscribe", "SCAN": "scan",
              "LOCATION": "location_event", "CLICK": "click", "VIEW": "view",
              "scancode_waitmsg": "scancode_waitmsg", "scancode_push": "scancode_push",
              "kf_create_session": "kf_create_session", "kf_close_session": "kf_close_session",
              "kf_switch_session": "kf_switch_session"}

    def event(self, openid: str, event: str, **fields) -> str:
        if event not in self.EVENTS:
            raise ValueError(f"unknown event {event!r}; one of {sorted(self.EVENTS)}")
        return getattr(self, self.EVENTS[event])(openid, **fields)


def _media_id() -> str:
    return "media_" + "".join(random.choices(crypto.KEY_ALPHABET + "_-", k=40))


def _ticket() -> str:
    return "gQ" + "".join(random.choices(crypto.KEY_ALPHABET, k=60))


def reply_fields(xml: str) -> dict:
    """A passive reply's XML as a dict; Articles becomes a list of item dicts."""
    try:
        root = SafeET.fromstring(xml)
    except (ET.ParseError, ValueError) as exc:
        raise ReplyError(f"reply is not well-formed XML: {exc}") from None
    if root.tag != "xml":
        raise ReplyError(f"reply root is <{root.tag}>, not <xml>")
    return _element_dict(root)


def _element_dict(element) -> dict:
    out = {}
    for child in element:
        if child.tag == "Articles":
            out[child.tag] = [_element_dict(item) for item in child]
        elif len(child):
            out[child.tag] = _element_dict(child)
        elif child.tag in ("CreateTime", "ArticleCount") and (child.text or "").strip().isdigit():
            out[child.tag] = int(child.text.strip())
        else:
            out[child.tag] = child.text or ""
    return out


class Pusher:
    """POSTs pushes to the bot's URL the way WeChat's servers do."""

    def __init__(self, url: str, token: str, app_id: str = "", encoding_aes_key: str = "",
                 mode: str = "plaintext", session: requests.Session | None = None,
                 timeout: float = 10.0, clock=time.time):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if mode != "plaintext" and not encoding_aes_key:
            raise ValueError(f"{mode} mode needs an EncodingAESKey")
        self.url, self.token, self.app_id = url, token, app_id
        self.encoding_aes_key, self.mode = encoding_aes_key, mode
        self.timeout, self.clock = timeout, clock
        if session is None:
            session = requests.Session()
            session.trust_env = False  # the bot is on loopback; never route it through a proxy
        self.session = session

    def _query(self, timestamp, nonce) -> dict:
        timestamp = str(int(self.clock())) if timestamp is None else str(timestamp)
        nonce = str(random.randrange(10**9, 10**10)) if nonce is None else str(nonce)
        return {"signature": crypto.signature(self.token, timestamp, nonce),
                "timestamp": timestamp, "nonce": nonce}

    def push(self, xml: str, *, timestamp=None, nonce=None, openid=None,
             timeout: float | None = None) -> requests.Response:
        params = self._query(timestamp, nonce)
        params["openid"] = openid if openid is not None else (xml_field(xml, "FromUserName") or "")
        body = xml
        if self.mode != "plaintext":
            encrypted = crypto.encrypt(self.encoding_aes_key, self.app_id, xml)
            params["encrypt_type"] = "aes"
            params["msg_signature"] = crypto.signature(self.token, params["timestamp"], params["nonce"], encrypted)
            if self.mode == "safe":
                to_user = xml_field(xml, "ToUserName") or ""
                body = render({"ToUserName": to_user, "Encrypt": encrypted})
            else:
                body = xml[: xml.rindex("</xml>")] + f"<Encrypt>{cdata(encrypted)}</Encrypt></xml>"
        return self.session.post(self.url, params=params, data=body.encode("utf-8"),
                                 headers={"Content-Type": "text/xml"},
                                 timeout=self.timeout if timeout is None else timeout)

    def retry(self, xml: str, **kwargs) -> requests.Response:
        """WeChat's retry: the same XML (same MsgId) re-sent with a fresh timestamp, nonce and signature."""
        kwargs.pop("timestamp", None)
        kwargs.pop("nonce", None)
        return self.push(xml, **kwargs)

    def verify_url(self, echostr: str, *, timestamp=None, nonce=None) -> requests.Response:
        """The GET WeChat sends when the URL is configured (same in every mode)."""
        params = {**self._query(timestamp, nonce), "echostr": echostr}
        return self.session.get(self.url, params=params, timeout=self.timeout)

    def decode_reply(self, response: requests.Response) -> dict | None:
        """The passive reply as a dict, or None for '' / 'success'. Raises ReplyError if WeChat would refuse it."""
        if response.status_code != 200:
            raise ReplyError(f"bot answered HTTP {response.status_code}")
        text = response.content.decode("utf-8", errors="strict").strip()
        if text in ("", "success"):
            return None
        fields = reply_fields(text)
        if "Encrypt" in fields:
            if self.mode == "plaintext":
                raise ReplyError("encrypted reply in plaintext mode")
            return reply_fields(self._open_encrypted(fields))
        if self.mode == "safe":
            raise ReplyError("plain reply in safe mode; WeChat expects <Encrypt>")
        return fields

    def _open_encrypted(self, fields: dict) -> str:
        missing = [k for k in ("Encrypt", "MsgSignature", "TimeStamp", "Nonce") if not fields.get(k)]
        if missing:
            raise ReplyError(f"encrypted reply lacks {', '.join(missing)}")
        expected = crypto.signature(self.token, fields["TimeStamp"], fields["Nonce"], fields["Encrypt"])
        if fields["MsgSignature"] != expected:
            raise ReplyError("encrypted reply has a bad MsgSignature")
        try:
            xml, app_id = crypto.decrypt(self.encoding_aes_key, fields["Encrypt"])
        except ValueError as exc:
            raise ReplyError(f"encrypted reply does not decrypt: {exc}") from None
        if app_id != self.app_id:
            raise ReplyError(f"encrypted reply is for appid {app_id!r}, not {self.app_id!r}")
        return xml
