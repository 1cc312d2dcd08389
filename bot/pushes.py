"""Inbound pushes: signature, freshness, decryption and safe parsing, with no Flask inside.

`decode_push` turns the query arguments and body of a POST from WeChat into a
wechatpy message, or raises `Refused` with the HTTP status to answer:
403 for anything not provably from WeChat (bad signature, stale timestamp,
wrong msg_signature or appid), 400 for bodies that are not a WeChat message
(malformed, hostile XML with entity declarations, undecryptable).

Each XML document is parsed once, by xmltodict as wechatpy uses it (the
envelope of a safe-mode push, then the message). xmltodict refuses entity
declarations outright (``disable_entities``, its default), so entity bombs
and external entities never expand; tests/test_pushes.py and the endpoint
fuzz tests hold it to that. The nested blocks of WeChat's own events are accepted
in the shapes bot.push_blocks allows, every document within its bounds.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

import xmltodict
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from bot.push_blocks import BLOCKS, fits, within_bounds

# XML 1.0 forbids these; a user can still type some of them (WeChat passes \x1d on), and
# expat would reject the whole push. Drop them so the user gets an answer.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class Refused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Push:
    message: object          # a wechatpy message (or UnknownMessage)
    encrypted: bool          # the reply must be encrypted too
    nonce: str
    timestamp: str


def verify_signature(token: str, args: Mapping[str, str]) -> None:
    try:
        check_signature(token, args.get("signature", ""), args.get("timestamp", ""), args.get("nonce", ""))
    except InvalidSignatureException:
        raise Refused(403, "bad signature") from None


def check_fresh(timestamp: str, now: float, window: int) -> None:
    try:
        age = abs(now - int(timestamp))
    except (TypeError, ValueError):
        raise Refused(403, "timestamp is not a number") from None
    if age > window:
        raise Refused(403, f"timestamp {age:.0f}s from now, outside the {window}s window")


def _text(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8") from None
    return _ILLEGAL_XML.sub("", text)


def _parse(text: str, what: str, parse):
    """`parse(text)`, with a hostile or malformed document refused as 400."""
    try:
        return parse(text)
    except ValueError as exc:  # xmltodict: "entities are disabled"
        if "entit" in str(exc):
            raise Refused(400, "hostile XML refused (entity declaration)") from None
        raise Refused(400, f"not a WeChat {what}") from None
    except Exception:  # expat errors, a root that is not <xml>, no MsgType
        raise Refused(400, f"not a WeChat {what}") from None


def _envelope(text: str) -> dict:
    envelope = xmltodict.parse(text)["xml"]
    if not isinstance(envelope, dict):
        raise ValueError("empty envelope")
    return envelope


def _has_plain_fields(text: str) -> bool:
    return "<MsgType>" in text


def decode_push(body: bytes, args: Mapping[str, str], crypto: WeChatCrypto | None) -> Push:
    """The message in a POST whose signature and freshness were already checked."""
    text = _text(body)
    encrypted = args.get("encrypt_type", "raw").lower() == "aes"
    if encrypted and crypto is None:
        # Compatible mode still carries the plain fields: answer in plaintext, which WeChat accepts.
        if not _has_plain_fields(text):
            raise Refused(403, "encrypted push but WECHAT_ENCODING_AES_KEY is not set")
        encrypted = False
    elif encrypted:
        encrypt = _parse(text, "envelope", _envelope).get("Encrypt") or ""
        if not isinstance(encrypt, str):
            raise Refused(400, "encrypted push with a repeated or nested Encrypt field")
        try:  # msg_signature first: anything not signed with the token is 403
            plain = crypto.decrypt_message({"Encrypt": encrypt}, args.get("msg_signature", ""),
                                           args.get("timestamp", ""), args.get("nonce", ""))
        except (InvalidSignatureException, InvalidAppIdException) as exc:
            raise Refused(403, f"encrypted push refused ({type(exc).__name__})") from None
        except Exception:  # wrong key, truncated or tampered ciphertext
            raise Refused(400, "encrypted push could not be decrypted") from None
        text = _text(plain.encode("utf-8") if isinstance(plain, str) else plain)
    message = _parse(text, "message", parse_message)
    _check_fields(message)
    return Push(message, encrypted, args.get("nonce", ""), args.get("timestamp", ""))


_PLAIN_VALUES = (str, int, float, tuple, datetime, type(None))


def _check_fields(message) -> None:
    """Read every field now: wechatpy converts lazily, so a duplicated, nested or non-numeric
    field would otherwise fail later, inside a handler. Such a push is not from WeChat; nor is
    a block shaped otherwise than WeChat's own (bot.push_blocks), or a document past its bounds."""
    if message is None:
        raise Refused(400, "empty message")
    data = getattr(message, "_data", None)
    if not isinstance(data, dict) or not within_bounds(data):
        raise Refused(400, "too deeply nested or too many elements")
    for name, declared in getattr(message, "_fields", {}).items():
        tag = getattr(declared, "name", name)
        if tag in BLOCKS:
            if not fits(data.get(tag), BLOCKS[tag]):
                raise Refused(400, f"block {tag} is not shaped as WeChat sends it")
            continue
        try:
            value = getattr(message, name)
        except Exception:
            raise Refused(400, f"field {name} has a value WeChat never sends") from None
        if not isinstance(value, _PLAIN_VALUES):
            raise Refused(400, f"field {name} is repeated or nested")
    if not isinstance(message.source, str) or not message.source or not isinstance(message.target, str) \
            or not message.target:
        raise Refused(400, "not a WeChat message (no sender or recipient)")


def dedupe_key(message) -> str:
    """One key per push, the same for WeChat's retries of it."""
    if getattr(message, "type", "") != "event" and getattr(message, "id", 0):
        return f"msg:{message.id}"
    event = getattr(message, "event", getattr(message, "type", "unknown"))
    # Two clicks on different menu keys within one second are two pushes.
    key = getattr(message, "key", None) or getattr(message, "scene_id", None) or getattr(message, "url", None) or ""
    return f"ev:{message.source}:{message.time}:{event}" + (f":{key}" if key else "")
