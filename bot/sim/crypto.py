"""WeChat's push signatures and message encryption, written from the published algorithm.

This is the fake WeChat's own implementation on `cryptography`, deliberately not
wechatpy's, so that the tests check the bot's use of wechatpy against an
independent reading of the protocol (docs/wechat-protocol.md §1):

- signature: sha1 hex of the sorted, concatenated token/timestamp/nonce[/Encrypt];
- AESKey = b64decode(EncodingAESKey + "="), AES-256-CBC with IV = AESKey[:16];
- plaintext = 16 random bytes + 4-byte big-endian length + message + appid,
  PKCS#7-padded to a multiple of 32 bytes (pad values 1..32).

AES-CBC carries no MAC: `decrypt` only checks structure (padding, length,
UTF-8); the msg_signature over the ciphertext is what authenticates a push.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import string
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PAD_BLOCK = 32
KEY_ALPHABET = string.ascii_letters + string.digits


def signature(token: str, timestamp, nonce, encrypt: str | None = None) -> str:
    """The `signature` (3 parts) or, with `encrypt`, the `msg_signature` (4 parts)."""
    parts = [str(token), str(timestamp), str(nonce)]
    if encrypt is not None:
        parts.append(str(encrypt))
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def new_aes_key() -> str:
    """A fresh EncodingAESKey: 43 characters of [A-Za-z0-9]."""
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(43))


def _cipher(encoding_aes_key: str) -> Cipher:
    if len(encoding_aes_key) != 43 or any(c not in KEY_ALPHABET for c in encoding_aes_key):
        raise ValueError("EncodingAESKey must be 43 characters of [A-Za-z0-9]")
    key = base64.b64decode(encoding_aes_key + "=")
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def encrypt(encoding_aes_key: str, app_id: str, xml: str, random16: bytes | None = None) -> str:
    """Encrypt `xml` for `app_id`; returns the base64 text that goes in <Encrypt>."""
    random16 = os.urandom(16) if random16 is None else random16
    if len(random16) != 16:
        raise ValueError("random16 must be 16 bytes")
    message = xml.encode("utf-8")
    plain = random16 + struct.pack(">I", len(message)) + message + app_id.encode("utf-8")
    pad = PAD_BLOCK - len(plain) % PAD_BLOCK
    plain += bytes([pad]) * pad
    encryptor = _cipher(encoding_aes_key).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")


def decrypt(encoding_aes_key: str, b64: str) -> tuple[str, str]:
    """Decrypt an <Encrypt> value; returns (xml, app_id). Raises ValueError on any malformation."""
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"ciphertext is not base64: {exc}") from None
    if not data or len(data) % PAD_BLOCK:
        raise ValueError(f"ciphertext length {len(data)} is not a positive multiple of {PAD_BLOCK}")
    decryptor = _cipher(encoding_aes_key).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= PAD_BLOCK or plain[-pad:] != bytes([pad]) * pad:
        raise ValueError("bad PKCS#7 padding (wrong key or tampered ciphertext)")
    body = plain[16:-pad]
    if len(body) < 4:
        raise ValueError("plaintext too short for the length field")
    (length,) = struct.unpack(">I", body[:4])
    if length > len(body) - 4:
        raise ValueError(f"message length {length} exceeds the plaintext")
    xml = body[4:4 + length].decode("utf-8")  # UnicodeDecodeError is a ValueError
    app_id = body[4 + length:].decode("utf-8")
    return xml, app_id
