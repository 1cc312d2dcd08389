"""Masking of personal data (phone numbers, ID numbers, bank cards, emails, openids).

Used by the log filter (every log line) and wherever user text is stored for
staff (unmatched messages). Plain functions, no I/O.
"""
from __future__ import annotations

import logging
import re

# Order matters: longer digit runs (ID cards, bank cards) before phone numbers.
ID_CARD = _ID_CARD = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
#: A secret written after the word that names it: "密码是abc123", "验证码 482913", "cvv:123".
SECRET_AFTER_WORD = re.compile(
    r"(?:(?P<password>(?:登录|支付|交易|银行卡|取款)?密码)|(?P<sms_code>验证码|短信码|动态码|校验码)"
    r"|(?P<cvv>cvv2?|cvc|安全码))"
    r"\s*(?:是|为|:|：|=)?\s*(?P<secret>(?=[A-Za-z]*\d)[A-Za-z0-9!@#$%^&*._-]{3,32})", re.I)
#: Twelve or more lower-case words in a row: a pasted seed phrase.
SEED_PHRASE = re.compile(r"(?<![A-Za-z])(?:[a-z]{3,8}[ ,]+){11,23}[a-z]{3,8}(?![A-Za-z])")
_BANK_CARD = re.compile(r"(?<!\d)(\d{4})\d{8,11}(\d{4})(?!\d)")
_MOBILE = re.compile(r"(?<!\d)((?:\+?86[- ]?)?1[3-9]\d)[- ]?\d{4}[- ]?(\d{4})(?!\d)")
# Anchored at the start of the local part: unanchored, a long run of letters is tried from every
# position and masking becomes quadratic (60 KB of "a" took seconds, blocking the worker).
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})")
# WeChat openids: 28 chars, usually starting with "o" (e.g. oABCD1234...).
_OPENID = re.compile(r"(?<![A-Za-z0-9_-])(o[A-Za-z0-9_-]{3})[A-Za-z0-9_-]{20,30}(?![A-Za-z0-9_-])")


def mask_openid(openid: str | None) -> str:
    """`oAbC...xyz` style: enough to correlate log lines, not enough to identify."""
    if not openid:
        return "-"
    if len(openid) <= 8:
        return openid[:2] + "***"
    return f"{openid[:4]}***{openid[-3:]}"


def mask_text(text: str) -> str:
    """Replace personal data in free text with masked forms."""
    if not text:
        return text
    text = _ID_CARD.sub(r"\1********\2", text)
    text = SECRET_AFTER_WORD.sub(lambda m: m.group(0)[:m.start("secret") - m.start()] + "******", text)
    text = SEED_PHRASE.sub("[助记词已隐藏]", text)
    text = _BANK_CARD.sub(r"\1****\2", text)
    text = _MOBILE.sub(r"\1****\2", text)
    text = _EMAIL.sub(r"\1***\2", text)
    text = _OPENID.sub(lambda m: m.group(1) + "***", text)
    return text


# Digit runs that may be a verification code, a password or a PIN (what mask_text leaves alone).
_CODE = re.compile(r"(?<![\d*])\d{4,8}(?![\d*])")


def mask_secrets(text: str) -> str:
    """mask_text, and runs of 4-8 digits hidden too: for text shown to people (agents)."""
    return _CODE.sub("****", mask_text(text)) if text else text


class MaskingFilter(logging.Filter):
    """A logging filter that masks personal data in the final message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = str(record.msg)
        record.msg = mask_text(message)
        record.args = None
        return True


def install_log_masking(logger: logging.Logger | None = None) -> None:
    """Attach MaskingFilter to every handler of `logger` (root by default)."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
