"""Secrets and identity numbers a user pastes into the chat: found, so the bot can warn, and masked.

`found(text)` names what a message gives away: a full ID-card number, a bank-card number (Luhn
checked, so order numbers stay quiet), a password, an SMS code, a CVV, or a seed phrase (12 or
more lower-case words in a row). `WARNING` is the line the router puts in front of its reply:
never share these with anyone, us included. Masking of the same things in every store and log
line is `bot.masking.mask_text`. Plain functions, no I/O.
"""
from __future__ import annotations

import re
import unicodedata

from bot.masking import ID_CARD, SECRET_AFTER_WORD, SEED_PHRASE

WARNING = ("🔒 提醒：您刚才发的内容里有{what}。这些信息请不要发给任何人——包括我们，"
           "官方客服永远不会索要；如果已经告诉过别人，请马上修改密码或拨打官方热线。")
NAMES = {"id_card": "身份证号", "bank_card": "银行卡号", "password": "密码", "sms_code": "验证码",
         "cvv": "卡背面的安全码（CVV）", "seed_phrase": "助记词"}
_CARD = re.compile(r"(?<!\d)(\d[\d -]{14,22}\d)(?!\d)")


def _luhn(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def found(text: str) -> tuple[str, ...]:
    """The kinds of sensitive data in `text`, in a stable order (empty when there are none)."""
    text = unicodedata.normalize("NFKC", text or "")[:2000]
    kinds = []
    if ID_CARD.search(text):
        kinds.append("id_card")
    for run in _CARD.findall(text):
        digits = re.sub(r"\D", "", run)
        if 16 <= len(digits) <= 19 and _luhn(digits) and not ID_CARD.fullmatch(digits):
            kinds.append("bank_card")
            break
    for match in SECRET_AFTER_WORD.finditer(text):
        kinds += [k for k in ("password", "sms_code", "cvv") if match.group(k) and k not in kinds]
    if SEED_PHRASE.search(text):
        kinds.append("seed_phrase")
    return tuple(k for k in NAMES if k in kinds)


def warning(kinds: tuple[str, ...]) -> str:
    return WARNING.format(what="、".join(NAMES[k] for k in kinds))
