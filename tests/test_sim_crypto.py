"""The fake WeChat's crypto against the official example and against wechatpy, both directions."""
from __future__ import annotations

import base64
import re

import pytest
import xmltodict
from hypothesis import given, settings, strategies as st
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException

from bot.sim import crypto

TOKEN = "demo-token"
APP_ID = "wxdemo1234567890"
KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OTHER_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
XML = "<xml><ToUserName><![CDATA[gh_demo_wallet]]></ToUserName><Content><![CDATA[余额怎么查？😀]]></Content></xml>"


def test_official_signature_example():
    assert crypto.signature("AAAAA", 1714036504, 1514711492) == "f464b24fc39322e44b38aa78f5edd27bd1441696"


def test_msg_signature_includes_encrypt_and_is_order_free():
    three = crypto.signature(TOKEN, "1", "2")
    four = crypto.signature(TOKEN, "1", "2", "cipher")
    assert three != four
    # sorted concatenation: swapping which argument holds which value gives the same digest
    assert crypto.signature("2", "1", TOKEN, "cipher") == four


def test_new_aes_key_shape():
    keys = {crypto.new_aes_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert re.fullmatch(r"[A-Za-z0-9]{43}", key)
        assert len(base64.b64decode(key + "=")) == 32


def test_round_trip_and_layout():
    b64 = crypto.encrypt(KEY, APP_ID, XML, random16=b"r" * 16)
    raw = base64.b64decode(b64)
    assert len(raw) % 32 == 0
    assert crypto.decrypt(KEY, b64) == (XML, APP_ID)
    # fixed random bytes give a fixed ciphertext; fresh ones differ
    assert crypto.encrypt(KEY, APP_ID, XML, random16=b"r" * 16) == b64
    assert crypto.encrypt(KEY, APP_ID, XML) != crypto.encrypt(KEY, APP_ID, XML)


def test_padding_is_a_full_block_when_aligned():
    # 16 random + 4 length + msg + appid == 64 bytes exactly -> a whole 32-byte pad block is added
    msg = "x" * (64 - 16 - 4 - len(APP_ID))
    b64 = crypto.encrypt(KEY, APP_ID, msg)
    assert len(base64.b64decode(b64)) == 96
    assert crypto.decrypt(KEY, b64) == (msg, APP_ID)


def test_our_encrypt_is_accepted_by_wechatpy():
    b64 = crypto.encrypt(KEY, APP_ID, XML)
    sig = crypto.signature(TOKEN, "1714036504", "77", b64)
    wrapped = {"ToUserName": "gh_demo_wallet", "Encrypt": b64}
    plain = WeChatCrypto(TOKEN, KEY, APP_ID).decrypt_message(wrapped, sig, "1714036504", "77")
    assert plain == XML
    with pytest.raises(InvalidSignatureException):
        WeChatCrypto(TOKEN, KEY, APP_ID).decrypt_message(wrapped, "0" * 40, "1714036504", "77")


def test_wechatpy_encrypt_is_accepted_by_ours():
    out = WeChatCrypto(TOKEN, KEY, APP_ID).encrypt_message(XML, "4242", "1714036504")
    fields = xmltodict.parse(out)["xml"]
    assert fields["MsgSignature"] == crypto.signature(TOKEN, fields["TimeStamp"], fields["Nonce"], fields["Encrypt"])
    assert crypto.decrypt(KEY, fields["Encrypt"]) == (XML, APP_ID)


def test_wrong_key_raises():
    b64 = crypto.encrypt(KEY, APP_ID, XML, random16=b"r" * 16)
    with pytest.raises(ValueError):
        crypto.decrypt(OTHER_KEY, b64)


def _flip(b64: str, index: int, mask: int) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[index] ^= mask
    return base64.b64encode(bytes(raw)).decode()


def test_tampered_ciphertext_raises():
    b64 = crypto.encrypt(KEY, APP_ID, XML, random16=b"r" * 16)
    size = len(base64.b64decode(b64))
    # CBC: flipping a ciphertext byte flips the same plaintext byte of the next 16-byte AES block.
    with pytest.raises(ValueError, match="padding"):
        crypto.decrypt(KEY, _flip(b64, size - 17, 0x80))   # last byte = pad value becomes >= 128
    with pytest.raises(ValueError, match="length"):
        crypto.decrypt(KEY, _flip(b64, 0, 0x40))           # high byte of the length field
    with pytest.raises(ValueError):
        crypto.decrypt(KEY, base64.b64encode(base64.b64decode(b64)[:-16]).decode())  # truncated
    with pytest.raises(ValueError):
        crypto.decrypt(KEY, "not base64!")


def test_bad_key_shape_raises():
    with pytest.raises(ValueError):
        crypto.encrypt(KEY[:-1], APP_ID, XML)
    with pytest.raises(ValueError):
        crypto.encrypt(KEY[:-1] + "+", APP_ID, XML)


@settings(max_examples=200, deadline=None)
@given(text=st.text(), app_id=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", max_size=18))
def test_round_trip_any_text(text, app_id):
    b64 = crypto.encrypt(KEY, app_id, text)
    assert crypto.decrypt(KEY, b64) == (text, app_id)


@settings(max_examples=50, deadline=None)
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1))
def test_wechatpy_decrypts_any_text(text):
    # wechatpy wants an XML-free wrapper only for Encrypt; any unicode (emoji included) round-trips
    b64 = crypto.encrypt(KEY, APP_ID, text)
    sig = crypto.signature(TOKEN, "1", "2", b64)
    assert WeChatCrypto(TOKEN, KEY, APP_ID).decrypt_message({"Encrypt": b64}, sig, "1", "2") == text
