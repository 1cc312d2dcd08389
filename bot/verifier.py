"""Verification of claimed official contacts: identifiers in, verdicts and a reply out.

`check(text, registry)` finds the contacts a user asks about (agent numbers,
phone numbers, websites, emails, WeChat IDs, QQ numbers) in free Chinese text,
judges each against the registry (`bot.channels.Registry`) as official, revoked
(former staff) or not official, names lookalikes (`wallet-example.com`,
`400-888-6689`, `KF1006`), and `reply_text()` turns the verdicts into one short
WeChat message. A message without an identifier, or that only mentions the
user's own number, is not a verification request: `check` returns [].

Plain Python, no I/O; every function accepts any str and never raises.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

from rapidfuzz.distance import OSA

from bot.channels import Channel, Registry, agent_number, phone_key
from bot.normalize import split_pinyin, to_simplified

#: Only the start of a message is read: enough for any real question, bounded time for any input.
MAX_CHARS = 2000
#: At most this many identifiers are judged per message.
MAX_IDENTIFIERS = 10
#: A WeChat text message must stay under 2048 bytes; keep a margin.
MAX_REPLY_BYTES = 1400

KIND_NAMES = {"agent_id": "工号", "phone": "电话", "domain": "网址", "email": "邮箱",
              "wechat_id": "微信号/公众号", "qq": "QQ号", "telegram": "Telegram 账号", "account_name": "公众号"}

_BLANK = "\x00"  # replaces consumed spans; control characters never survive normalize_text
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A number read out in characters ("四零零八八八六六八八", 幺 for 1): seven or more in a row.
_SPOKEN = "[零〇幺一二三四五六七八九]"
#: A number read out in words ("四零零八八八六六八八", "八零零 八八八 六六八八"), seven digits or more…
_SPOKEN_DIGITS = re.compile(f"{_SPOKEN}(?:[ \u3000-]?{_SPOKEN}){{6,}}")
#: …or an agent's number, after 工号/编号/KF or before 号客服 ("工号幺零零三", "一零零三号客服").
_SPOKEN_AGENT = re.compile(f"(?<=工号|编号|工號|編號)(?:是|为|:)?\\s*{_SPOKEN}{{3,6}}|(?<=kf)[\\s-]?{_SPOKEN}{{3,6}}|{_SPOKEN}{{3,6}}(?=号客服)"
                           f"|(?<=客服)\\s*{_SPOKEN}{{4}}(?=号)", re.I)
_DIGIT_OF = str.maketrans("零〇幺一二三四五六七八九", "001123456789")
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")

# Characters of a domain label: ASCII plus Latin, Greek and Cyrillic letters (homoglyph attacks).
_D = "0-9a-z\u00c0-\u024f\u0370-\u03ff\u0400-\u052f"
_TLD = "(?:xn--[a-z0-9-]{2,59}|[a-z\u00c0-\u024f\u0370-\u03ff\u0400-\u052f]{2,24})"
_HOST = rf"(?:[{_D}][{_D}-]{{0,62}}\.)+{_TLD}"
_IDEOGRAPHIC_DOT = re.compile(rf"(?<=[{_D}])\u3002(?=[{_D}])", re.I)
#: A dot read out between the labels of a domain ("wallet点example点com", "wallet dot example dot com").
_SPOKEN_DOT = re.compile(r"(?<=[a-z])(?:\s*点\s*|\s+dot\s+)(?=[a-z])", re.I)
#: A number typed digit by digit ("0 2 1 - 6 2 3 4 5 6 7 8"): seven or more single digits apart.
_DIGIT_BY_DIGIT = re.compile(r"(?<![\d])(?:\d[ \u3000-]{1,3}){6,}\d(?![\d])")
#: An @ read out in an address ("support 艾特 wallet 点 example 点 com").
# A hyphen read out between letters or digits ("wallet杠example点com").
_SPOKEN_DASH = re.compile(r"(?<=[a-z0-9])\s*杠\s*(?=[a-z0-9])", re.I)
_SPOKEN_AT = re.compile(r"(?<=[a-z0-9])\s*(?:艾特|圈a)\s*(?=[a-z0-9])", re.I)
#: An agent number's KF typed letter by letter ("K F 幺零零五").
_SPACED_KF = re.compile(r"(?<![a-z])k\s+f(?=[\s-]*[0-9零〇幺一二三四五六七八九])", re.I)
_HOST_RE = re.compile(_HOST, re.I)
_IPV4 = re.compile(r"(?:\d{1,3}\.){3}\d{1,3}")
_FILE_EXTENSIONS = frozenset(
    "png jpg jpeg gif bmp webp heic apk ipa exe dmg txt pdf doc docx xls xlsx ppt pptx zip rar "
    "mp3 mp4 mov avi js py html htm json csv log".split())

_URL = re.compile(r"(?:https?|hxxps?|ftp)://([^\s/?#<>\"'\u3000-\u303f\u4e00-\u9fff,;!()\[\]{}]+)"
                  r"[^\s<>\"'\u3000-\u303f\u4e00-\u9fff]*", re.I)
# A host in Chinese characters ("示例钱包.com", "http://示例钱包.中国/login"), set off from the words before it.
_IDN = re.compile(r"(?:(?:https?|hxxps?)://)?(?<![\u4e00-\u9fff0-9a-z.-])"
                  r"((?:[\u4e00-\u9fff][\u4e00-\u9fff0-9-]{0,30}\.)+"
                  r"(?:[a-z]{2,24}(?![0-9a-z-])|(?:中国|公司|网络)(?![\u4e00-\u9fff])))", re.I)
# What a pasted address may go on with after its host: a port, a path, a query, a fragment.
_ADDRESS_TAIL = re.compile(r"(?::\d{1,5})?(?:[/?#][^\s\u3000-\u303f\u4e00-\u9fff，。！？]*)?")
_EMAIL = re.compile(rf"(?<![0-9a-z._%+-])([0-9a-z._%+-]{{1,64}}@{_HOST})(?![{_D}-])", re.I)
_BARE_DOMAIN = re.compile(rf"(?<![{_D}@._-])({_HOST})(?![{_D}_@-]|\.[{_D}])", re.I)
_AGENT = (
    re.compile(r"(?:工[号號]|[员員]工[号號]|客服[编編][号號]|[员員]工[编編][号號]|客服工[号號]|工作[号號]|客服[号號])\s*(?:是|為|为|:|#)?\s*"
               r"(?:kf)?[\s_#:-]{0,3}(\d{3,6})(?!\d)", re.I),
    re.compile(r"(?<![a-z0-9_-])kf[\s_#:.-]{0,3}(\d{3,6})(?!\d)", re.I),
    re.compile(r"客服(?:人员)?\s*(\d{3,6})\s*号(?!码)"),
    re.compile(r"(?<!\d)(\d{3,6})\s*号客服"),
    # A letter that looks like a digit (KF1O02, KFl003): judged as an imitation of the agent it resembles.
    re.compile(r"(?<![a-z0-9_-])kf[\s_#:.-]{0,3}((?=[0-9]*[oil])(?=[0-9oil]*[0-9])[0-9oil]{3,6})(?![a-z0-9])", re.I),
)
#: Letters written for the digits they look like, in an agent number.
_DIGIT_LOOKALIKES = str.maketrans("oOiIlL", "001111")
# More agent numbers listed after one ("工号1003、1004和KF1005").
_AGENT_MORE = re.compile(r"\s*(?:、|,|/|和|及|与|跟|或)\s*(?:kf)?[\s_#:-]{0,3}(\d{3,6})(?!\d)", re.I)
_QQ = re.compile(r"(?:(?<![a-z])(?:qq|扣扣|企鹅号|q(?=号|群|\s*:))\s*(?:号码|号|群号?)?|群号码?)\s*(?:是|为|:)?\s*([1-9]\d{4,11})(?!\d)", re.I)
_QQ_MENTION = re.compile(r"(?<![a-z])qq(?![a-z])|扣扣|企鹅号", re.I)
#: In a message about QQ, a bare 5-11 digit number that no phone class claims is the QQ number.
_QQ_APART = re.compile(r"(?<![0-9a-z_+.@-])((?!1[3-9]\d{9}(?!\d))(?![48]00\d{7}(?!\d))(?!0\d)[1-9]\d{4,10})(?![0-9a-z_@.-])"
                       r"(?!\s*(?:元|块|万|千|百|%|rmb|usdt|人民币|个|笔|次|天|年|月|分钟|秒))", re.I)
#: WeChat's own generated ids ("wxid_…"), read whole before the "wx" cue below could split one.
_WXID = re.compile(r"(?<![a-z0-9_])(wxid_[a-z0-9_-]{4,30})(?![a-z0-9_-])", re.I)
_WECHAT = re.compile(r"(?<![a-z])(?:微信号?|wechat|weixin|vx|v信|wx|威信|薇信|公众号)\s*(?:号码|号|id)?\s*"
                     r"(?:的|是|为|:|搜索?)?\s*([a-z][a-z0-9_-]{5,29}|1[3-9]\d{9})(?![a-z0-9_-])", re.I)
_TELEGRAM = re.compile(r"(?:(?:telegram|tg|电报|纸飞机|飞机)\s*(?:号|账号|id|用户名)?\s*(?:是|为|:|搜索?)?\s*@?"
                       r"|t\.me/|(?<![a-z0-9_.@-])@)([a-z][a-z0-9_]{4,31})(?![a-z0-9_@.-])", re.I)
# An official account by its display name: quoted next to 公众号/服务号 ("「示例钱包服务中心」这个公众号"),
# "叫X的公众号", or "公众号X是你们的吗" (a name then a question whether it is real).
_ACCOUNT_WORD = r"(?:公众号|服务号|订阅号|公眾號|服務號|訂閱號)"
_OPEN_QUOTE, _CLOSE_QUOTE = "「“\"'《【『", "」”\"'》】』"
_ACCOUNT_NAME = (
    re.compile(rf"{_ACCOUNT_WORD}\s*(?:叫做?|名叫|名字叫|名称是|名字是|是|:)?\s*[{_OPEN_QUOTE}]([^{_CLOSE_QUOTE}\s]{{2,24}})[{_CLOSE_QUOTE}]"),
    re.compile(rf"[{_OPEN_QUOTE}]([^{_CLOSE_QUOTE}\s]{{2,24}})[{_CLOSE_QUOTE}]\s*(?:这个|的|这个官方|这个叫)?{_ACCOUNT_WORD}"),
    re.compile(rf"(?:叫做?|名叫)([\u4e00-\u9fff0-9a-z]{{2,16}}?)的{_ACCOUNT_WORD}"),
    re.compile(rf"{_ACCOUNT_WORD}\s*(?:叫做?|名叫)?\s*(?![里上中的在怎])([\u4e00-\u9fff0-9a-z]{{2,16}}?)\s*"
               r"(?=是你们|是不是|是官方|是真的|是假的|靠谱|可信|能信|可靠|正规)"),
    # set off by spaces, as names are typed when copied: "公众号 示例钱包服务中心 领补贴"
    re.compile(rf"{_ACCOUNT_WORD}\s+([\u4e00-\u9fff]{{2,16}})(?=\s)"),
)
# A message about official accounts, and how a name copying an official one ends: where it is set
# apart, or where the sentence about it goes on ("…是你们的吗", "…这个公众号").
_ACCOUNT_CONTEXT = re.compile(rf"{_ACCOUNT_WORD}|gong ?zhong ?hao|号叫|个号|这个号|那个号|两个号|几个号|的号|account name", re.I)
_QUOTED = re.compile(rf"[{_OPEN_QUOTE}]([\u4e00-\u9fff0-9a-z\u2600-\u27bf\U0001f000-\U0001faff]{{2,24}})[{_CLOSE_QUOTE}]", re.I)
_NAME_LEAD = r"(?:(?<=叫)|(?<=叫做)|(?<=名叫)|(?<=关注了)|(?<=搜到)|(?<=号)|(?<=和)|(?<=与)|(?<![^\s\"'「“『《【]))"
_NAME_TAIL = (r"([\u4e00-\u9fff]{0,6}?)(?<!的)(?=[\s,.!?;:、，。！？；：\"'」”』》)]|$|这个|那个|的?公众号|的?服务号"
              r"|是你们|是不是|是官方|是真的|靠谱|可信|和|与|天天|一直|说的|说我|让我|叫我|要我|发来|发的|推送|通知我)")
# A handle typed bare ("demo_wallet_0fficial 是你们的吗"): letters with an underscore or a digit in it.
_BARE_HANDLE = re.compile(r"(?<![a-z0-9_.@/-])([a-z](?=[a-z0-9_-]*[_0-9-])[a-z0-9_-]{5,29})(?![a-z0-9_@.-])", re.I)
_PHONE_RUN = re.compile(r"(?<![0-9a-z_+./])(\+?\(?\d(?:[ \t\u3000()-]{0,3}\d|[./]\d(?=\d)){3,19})(?![\d./]\d)", re.I)
_MONEY_AFTER = re.compile(r"\s*(?:元|块|万|千|百|%|rmb|usdt|人民币|美元|个|笔|次|天|年|月|分钟|秒)", re.I)
_PHONE_CLASSES = (
    re.compile(r"1[3-9]\d{9}"),          # mobile
    re.compile(r"[48]00\d{6,8}"),         # 400 / 800 service numbers (a digit short or over: a lookalike)
    re.compile(r"0[1-9]\d{8,10}"),        # landline with area code
    re.compile(r"9[56]\d{3,4}|95\d{6}"),  # 95xxx(x) / 96xxx(x) short numbers
    re.compile(r"106\d{5,17}"),           # 106… SMS sender ports
)
#: A number written with a country code other than China's: kept whole, "+852…".
_FOREIGN = re.compile(r"\+(?!86)[1-9]\d{7,14}")
#: A number right after these words is a code or an amount the user was sent, not a phone number.
_CODE_BEFORE = re.compile(r"(?:验证码|校验码|动态码|短信码|密码|code|otp|pin|订单号?|单号|卡号|尾号|编号|金额)\s*(?:是|为|:)?\s*$", re.I)

# The identifier belongs to the user ("我的手机号…"), not to whoever contacted them.
_OWN = re.compile(r"(?:(?<![加给找让叫要跟和与])我|本人)(?!收到|接到|被|接了|看到|加|添加|关注|搜|查到|联系|打了|打的|打过|拨|回拨|扫|找的|存的)"
                  r"[^,.!?;，。！？他她对]{0,6}"
                  r"(?:手机号码?|手机|电话号码?|电话|号码|邮箱地址?|邮箱|微信号?|qq号?|账号)\s*(?:是|为|:)?\s*$", re.I)
# Words that make a message with an identifier a question about who is behind it.
_CUE = re.compile(r"官方|官网|客服|工作人员|人工|真的|真假|真实|是不是|是否|可信|靠谱|正规|骗|假的|假冒|冒充|仿冒|钓鱼"
                  r"|自称|说是|核实|核对|确认|查一下|查查|帮我查|安全吗|能信|可靠|有效|在职|你们|贵司|公司|来电|打来"
                  r"|你门|官放|打电话|打给我|给我打|打了我|打我|(?:钱包|平台|官方|公司|你们家)的(?:吗|嘛|不|号|电话)|联系我|加我|私信|发来|给我发|发给我|短信|的人|热线|认证|合法|能点|能登|登录|链接|靠得住|有问题吗|guan ?fang|shi ?bu ?shi|zhen ?de|ke ?kao|ni ?men|ke ?fu|zhen ?jia|pian ?zi|official|legit|real|fake|scam|\byours?\b|demo ?wallet|claim|support|\bagent\b|customer service|genuine|trust|\bsafe\b"
                  r"|suspicious|\bsus\b|really you|do you (?:even )?have", re.I)
# A question, however worded ("上面的表格能填吗", "关注哪个", "can I open it?"), and the identifiers
# it is about whatever it asks: links and accounts (a phone number in a question may be the user's
# business: "给13800138000转账怎么操作"). A URL is scanned as its domain.
_QUESTION = re.compile(r"吗|嘛|\?|？|能不能|可不可以|行不行|是否|安全不|可以不|哪个|哪一个|which|(?<![a-z])ma$", re.I)
_ASKED_KINDS = ("domain", "email", "wechat_id", "telegram", "qq", "account_name")
# What is left of a message that is only identifiers ("4008886688是吗"): it still asks to verify.
_FILLER = re.compile(r"[\s\x00,.!?;:、。\"'()\[\]<>~-]+|请问|这个|那个|这|那|是|吗|呢|啊|吧|的|号码|电话|手机号?|网址"
                     r"|网站|邮箱|微信号?|查|一下|帮我|看看|呀|么|qq|和|或", re.I)

# Confusable folding: letters and digits that look alike map to one letter, both sides compared folded.
_CONFUSABLES = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "і": "l", "ј": "j", "ѕ": "s",
    "ԁ": "d", "ӏ": "l", "һ": "h", "ԛ": "q", "ԝ": "w", "ɡ": "g", "к": "k", "м": "m", "т": "t", "в": "b",
    "н": "h", "г": "r", "п": "n", "ь": "b", "α": "a", "ο": "o", "ρ": "p", "ν": "v", "τ": "t", "ι": "l",
    "κ": "k", "χ": "x", "υ": "u", "ε": "e", "β": "b", "η": "n", "μ": "u", "ω": "w", "γ": "y",
    "0": "o", "1": "l", "3": "e", "5": "s", "i": "l", "|": "l",
})
_MULTI_CONFUSABLES = (("rn", "m"), ("vv", "w"))
_GENERIC_WORDS = frozenset("www official offical kefu service services support help app online cs vip "
                           "secure login account wallet-app m com cn net org".split())


def normalize_text(text: str) -> str:
    """Full-width to half-width (NFKC), invisible and control characters out; numbers typed digit by
    digit or read out as digits; KF typed apart; 。 or a spoken 点/dot between letters to '.', 杠 to '-',
    艾特 to '@'."""
    if not isinstance(text, str):
        return ""
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS])[:MAX_CHARS]
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = _DIGIT_BY_DIGIT.sub(lambda m: re.sub(r"\D", "", m.group()), text)
    text = _SPOKEN_DIGITS.sub(lambda m: re.sub(r"[ \u3000-]", "", m.group()).translate(_DIGIT_OF), text)
    text = _SPOKEN_AGENT.sub(lambda m: m.group().translate(_DIGIT_OF), _SPACED_KF.sub("KF", text))
    text = _SPOKEN_DASH.sub("-", _SPOKEN_DOT.sub(".", _IDEOGRAPHIC_DOT.sub(".", text)))
    return _SPOKEN_AT.sub("@", text)


@dataclass(frozen=True)
class Identifier:
    kind: str       # one of KIND_NAMES
    value: str      # canonical form: KF+digits, phone digits, lowercase host / address / ID
    start: int      # offset in the normalized text
    #: what imitation is judged on: the host with a URL's user part ("wallet.example.com@evil.cn"), punycode decoded
    probe: str = ""
    own: bool = False


@dataclass(frozen=True)
class Verdict:
    identifier: str
    kind: str
    status: str                     # "official" | "revoked" | "not_official"
    lookalike_of: str | None = None
    label: str = ""                 # what an official identifier is
    revoked_on: str | None = None

    def as_dict(self) -> dict:
        return {"identifier": self.identifier, "kind": self.kind, "status": self.status,
                "lookalike_of": self.lookalike_of}


# --- extraction ----------------------------------------------------------------------------------

def _decode_punycode(host: str) -> str:
    labels = []
    for label in host.split("."):
        if label.startswith("xn--"):
            try:
                label = label[4:].encode("ascii").decode("punycode")
            except Exception:  # malformed punycode: judge the label as written
                pass
        labels.append(label)
    return ".".join(labels)


def _phone_class(digits: str) -> str | None:
    digits = phone_key(digits)
    candidates = [digits]
    if digits.startswith("86"):
        candidates.append("0" + digits[2:])  # +86 10 12345678: the trunk 0 is dropped after the country code
    for candidate in candidates:
        if any(p.fullmatch(candidate) for p in _PHONE_CLASSES):
            return candidate
    return None


def _phones_in_run(run: str) -> list[str]:
    """Phone numbers in a run of digits and separators; spaces may also separate two numbers."""
    foreign = "+" + re.sub(r"\D", "", run)
    if run.lstrip("(").startswith("+") and _FOREIGN.fullmatch(foreign):
        return [foreign]
    chunks = [re.sub(r"\D", "", c) for c in run.split()]
    chunks = [c for c in chunks if c]
    found, i = [], 0
    while i < len(chunks):
        for j in range(min(len(chunks), i + 5), i, -1):
            number = _phone_class("".join(chunks[i:j]))
            if number:
                found.append(number)
                i = j
                break
        else:
            i += 1
    return found


class _Scanner:
    """Runs the extractors in order; each blanks what it consumed so later ones do not see it again."""

    def __init__(self, text: str):
        self.text = text
        self.found: list[Identifier] = []

    def blank(self, start: int, end: int) -> None:
        self.text = self.text[:start] + _BLANK * (end - start) + self.text[end:]

    def add(self, kind: str, value: str, start: int, probe: str = "") -> None:
        window = self.text[max(0, start - 14):start]
        own = bool(_OWN.search(window))
        self.found.append(Identifier(kind, value, start, probe or value, own))

    def urls(self) -> None:
        for m in list(_URL.finditer(self.text)):
            authority = m.group(1).lower()
            userinfo, _, hostport = authority.rpartition("@")
            host = hostport.split(":", 1)[0].rstrip(".")
            if _HOST_RE.fullmatch(host) or _IPV4.fullmatch(host):
                probe = _decode_punycode(f"{userinfo}@{host}" if userinfo else host)
                self.add("domain", host, m.start(), probe)
            self.blank(m.start(), m.end())

    def emails(self) -> None:
        for m in list(_EMAIL.finditer(self.text)):
            address = m.group(1).lower()
            self.add("email", address, m.start(), _decode_punycode(address))
            self.blank(m.start(), m.end())

    def pattern(self, kind: str, regex: re.Pattern, canonical, skip_after: re.Pattern | None = None,
                keep=None) -> None:
        for m in list(regex.finditer(self.text)):
            if skip_after and skip_after.search(self.text[max(0, m.start() - 8):m.start()]):
                continue
            if keep is not None and not keep(m):
                continue
            self.add(kind, canonical(m.group(1)), m.start(1))
            self.blank(m.start(), m.end())

    def agents(self) -> None:
        for regex in _AGENT:
            for m in list(regex.finditer(self.text)):
                self.add("agent_id", "KF" + m.group(1).upper(), m.start(1))
                self.blank(m.start(), m.end())
                more = _AGENT_MORE.match(self.text, m.end())
                while more:
                    self.add("agent_id", "KF" + more.group(1), more.start(1))
                    self.blank(more.start(), more.end())
                    more = _AGENT_MORE.match(self.text, more.end())

    def phones(self) -> None:
        for m in list(_PHONE_RUN.finditer(self.text)):
            if _MONEY_AFTER.match(self.text, m.end()) or _CODE_BEFORE.search(self.text[max(0, m.start() - 8):m.start()]):
                continue
            for number in _phones_in_run(m.group(1)):
                self.add("phone", number, m.start())
            self.blank(m.start(), m.end())

    def domains(self) -> None:
        for regex in (_IDN, _BARE_DOMAIN):
            for m in list(regex.finditer(self.text)):
                host = m.group(1).lower()
                if host.rsplit(".", 1)[-1] in _FILE_EXTENSIONS:
                    continue
                self.add("domain", host, m.start(1), _decode_punycode(host))
                self.blank(m.start(), _ADDRESS_TAIL.match(self.text, m.end()).end())


def _names_an_account(m: re.Match) -> bool:
    """A quoted or named account is a name, not words about the menu ("公众号「客服」菜单")."""
    return not re.fullmatch(r"客服|人工|在线客服|菜单|服务|官方|我的|首页", m.group(1))


def _handle_not_pinyin(m: re.Match) -> bool:
    """A word after a bare "telegram"/"tg" in a message typed in pinyin ("telegram shang you ge ren")
    is more pinyin, not a handle: only an @, t.me/ or 号/账号/是… before it, or a digit or
    underscore in it, makes a word that spells pinyin syllables a handle."""
    handle = m.group(1)
    if not handle.isalpha() or split_pinyin(handle.lower()) is None:
        return True
    return bool(re.search(r"[@/号]|账号|id|用户名|是|为|:|搜", m.group(0)[: m.start(1) - m.start()], re.I))


@lru_cache(maxsize=4096)   # a message is scanned once, however many checks ask (the result is only read)
def _scan(text: str) -> _Scanner:
    scanner = _Scanner(normalize_text(text))
    scanner.urls()
    scanner.emails()
    scanner.agents()
    scanner.pattern("qq", _QQ, str)
    if _QQ_MENTION.search(scanner.text):
        scanner.pattern("qq", _QQ_APART, str, skip_after=_CODE_BEFORE)
    scanner.pattern("telegram", _TELEGRAM, str.lower, keep=_handle_not_pinyin)
    for regex in _ACCOUNT_NAME:
        scanner.pattern("account_name", regex, str, keep=_names_an_account)
    scanner.pattern("wechat_id", _WXID, str.lower)
    scanner.pattern("wechat_id", _WECHAT, str.lower)
    scanner.phones()
    scanner.domains()
    scanner.pattern("wechat_id", _BARE_HANDLE, str.lower)
    return scanner


def _unique(identifiers: list[Identifier]) -> list[Identifier]:
    seen, out = set(), []
    for ident in sorted(identifiers, key=lambda i: i.start):
        if (ident.kind, ident.value) not in seen:
            seen.add((ident.kind, ident.value))
            out.append(ident)
    return out[:MAX_IDENTIFIERS]


def extract(text: str) -> list[Identifier]:
    """Every contact identifier in the text that is not the user's own, in order of appearance."""
    return _unique([i for i in _scan(text).found if not i.own])


def verification_request(text: str) -> list[Identifier]:
    """The identifiers the user asks about, or [] if the message is not a verification request."""
    scanner = _scan(text)
    identifiers = _unique([i for i in scanner.found if not i.own])
    if not identifiers:
        return []
    asked = to_simplified(scanner.text)   # 這個信箱是你們的嗎 asks what 这个信箱是你们的吗 asks
    if any(i.kind in ("agent_id", "telegram") for i in identifiers) or _CUE.search(asked):
        return identifiers
    if not _FILLER.sub("", scanner.text):
        return identifiers  # the message is just the identifier(s): the user pasted it to check
    if _QUESTION.search(asked) and any(i.kind in _ASKED_KINDS for i in identifiers):
        return identifiers  # any question about a message with a link or an account in it is about that
    return []


def named_accounts(text: str, registry: Registry, asked: bool = True) -> list[Identifier]:
    """Account names written without a cue the scanner knows, found by the official names they copy:
    in quotes ("「示例钱包客服中心」的客服让我…"), or set apart in a message about accounts ("有个号叫
    示例钱包官方客服 天天推消息", "gongzhonghao jiao 示例钱包福利社 shi guanfang de ma"), with more
    after the official name or one character off it (示列钱包客服). The official name itself counts
    only beside such a copy ("示例钱包 和 示例钱包理赔中心 哪个是真的"). `asked`: a verification
    question, which must be about accounts; a scam alert names a quoted one whatever the wording."""
    written = normalize_text(text)
    plain = to_simplified(written)
    if not registry.account_names or (asked and not (_CUE.search(plain) or _QUESTION.search(plain))):
        return []
    def as_written(start: int, end: int) -> str:   # 示例錢包… as the user typed it, when t2s kept the length
        return written[start:end] if len(written) == len(plain) else plain[start:end]

    about_accounts = bool(_ACCOUNT_CONTEXT.search(plain))
    copies, officials, taken, named = [], [], [], False
    for m in _QUOTED.finditer(plain) if about_accounts or not asked else ():   # "搜“示例钱包客服”" is a search
        inside = m.group(1)
        if any(name in inside or OSA.distance(inside[:len(name)], name, score_cutoff=1) <= 1
               for name in registry.account_names) and inside not in registry.account_names:
            copies.append(Identifier("account_name", as_written(m.start(1), m.end(1)), m.start(1), inside))
            taken.append(range(m.start(), m.end()))
    if about_accounts:
        for name in registry.account_names:   # the name, or one character off it (示列钱包客服)
            # in a lookahead, so every start is tried: "有个公众号叫示列钱包" is not hidden by a match at its start
            for m in re.finditer("(?=" + _NAME_LEAD + f"([\u4e00-\u9fff]{{{len(name)}}})" + _NAME_TAIL + ")", plain):
                if OSA.distance(m.group(1), name, score_cutoff=1) > 1 or any(m.start() in r for r in taken):
                    continue
                exact = m.group(1) == name and not m.group(2)
                found = Identifier("account_name", as_written(m.start(), m.end(2)), m.start(), m.group(1) + m.group(2))
                (officials if exact else copies).append(found)
                taken.append(range(m.start(), m.end(2)))
                named |= exact and _named_apart(plain, m.start(), m.end(2))
    return copies + officials if copies or named else []


def _named_apart(text: str, start: int, end: int) -> bool:
    """The name is given as an account's name: after 叫 ("有一个叫 示例钱包 的"), or set apart by spaces
    or quotes on both sides; not a word in a sentence ("示例钱包公众号怎么找客服") or a search term."""
    before = text[:start].rstrip(" \t\"'「“『《【")
    if before.endswith(("搜", "搜索", "查", "查找")):   # a search term ("搜'示例钱包'出来三个")
        return False
    apart = (start == 0 or not text[start - 1].isalnum()) and (end == len(text) or not text[end].isalnum())
    return before.endswith(("叫", "叫做", "名叫")) or (apart and start > 0)


def with_named_accounts(identifiers: list[Identifier], text: str, registry: Registry,
                        asked: bool = True) -> list[Identifier]:
    """`identifiers` and the `named_accounts` of the message not among them, in message order."""
    known = {to_simplified(i.value) for i in identifiers}
    named = [n for n in named_accounts(text, registry, asked) if to_simplified(n.value) not in known]
    return sorted([*identifiers, *named], key=lambda i: i.start)


# --- verdicts ------------------------------------------------------------------------------------

def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c)).translate(_CONFUSABLES)
    for pair, single in _MULTI_CONFUSABLES:
        text = text.replace(pair, single)
    return text


def _core_tokens(official: str, kind: str) -> list[str]:
    parts = official.lower().split(".")
    if kind in ("domain", "email") and len(parts) > 1:
        parts = parts[:-1]  # the TLD says nothing about the brand
    words = [w for p in parts for w in re.split(r"[-_]", p)]
    return [_fold(w) for w in words if len(w) >= 3 and w not in _GENERIC_WORDS]


def imitates(probe: str, official: str, kind: str) -> bool:
    """True if `probe` looks made to pass for `official` (homoglyphs, one edit, official name inside)."""
    candidate, target = _fold(probe), _fold(official)
    if candidate == target:
        return True
    limit = 1 if len(target) < 10 else 2
    if OSA.distance(candidate, target, score_cutoff=limit) <= limit:
        return True
    if any(candidate.startswith(target + sep) for sep in ".-_@") or f".{target}." in candidate:
        return True
    tokens = _core_tokens(official, kind)
    return bool(tokens) and (len(tokens) >= 2 or len(tokens[0]) >= 5) and all(t in candidate for t in tokens)


def _nearest_by_digits(digits: str, officials: list[str]) -> str | None:
    """The official number one edit (change, insert, drop, swap) away, or with the same digits
    shuffled after the same first three (400-868-8866 for 400-888-6688), if any."""
    best = None
    for official in officials:
        if abs(len(official) - len(digits)) > 1 or len(official) < 4:
            continue
        shuffled = len(digits) >= 7 and digits[:3] == official[:3] and sorted(digits) == sorted(official)
        if shuffled or OSA.distance(digits, official, score_cutoff=1) <= 1:
            gap = abs(int(official) - int(digits)) if official.isdigit() and digits.isdigit() else 0
            if best is None or gap < best[0]:
                best = (gap, official)
    return best[1] if best else None


def _judge_agent(ident: Identifier, registry: Registry) -> Verdict:
    digits = ident.value[2:]
    if not digits.isdigit():      # KF1O02: a letter where a digit should be is an imitation
        active = {a.id[2:]: a.id for a in registry.active_agents()}
        folded = digits.translate(_DIGIT_LOOKALIKES)
        near = folded if folded in active else _nearest_by_digits(folded, list(active))
        return Verdict(ident.value, "agent_id", "not_official", active[near] if near else None)
    agent = registry.agents.get(agent_number(digits))
    if agent is not None and agent.status == "active":
        return Verdict(agent.id, "agent_id", "official", label="在职客服工号")
    if agent is not None:
        return Verdict(agent.id, "agent_id", "revoked", revoked_on=agent.revoked_on)
    active = {a.id[2:]: a.id for a in registry.active_agents()}
    near = _nearest_by_digits(digits, list(active))
    return Verdict(ident.value, "agent_id", "not_official", active[near] if near else None)


def _judge_phone(ident: Identifier, registry: Registry) -> Verdict:
    channel = registry.phones.get(ident.value)
    if channel is not None:
        return Verdict(ident.value, "phone", "official", label=channel.label)
    return Verdict(ident.value, "phone", "not_official", _nearest_by_digits(ident.value, list(registry.phones)))


def _imitated(ident: Identifier, channels: list[Channel]) -> str | None:
    for channel in channels:
        if imitates(ident.probe, channel.value, ident.kind):
            return channel.value
    return None


def _judge_domain(ident: Identifier, registry: Registry) -> Verdict:
    channel = registry.find_domain(ident.value)
    if channel is not None:
        label = channel.label if channel.value == ident.value else f"{channel.label} {channel.display} 的子域名"
        return Verdict(ident.value, "domain", "official", label=label)
    imitated = _imitated(ident, list(registry.domains.values()))
    if imitated is None and registry.domains and any(name in to_simplified(ident.probe) for name in registry.account_names):
        imitated = next(iter(registry.domains))   # our name as a host ("示例钱包.com") passes for our site
    return Verdict(ident.value, "domain", "not_official", imitated)


def _judge_email(ident: Identifier, registry: Registry) -> Verdict:
    address = ident.value
    if address in registry.emails:
        return Verdict(address, "email", "official", label=registry.emails[address].label)
    local, _, domain = address.rpartition("@")
    channel = registry.find_email_domain(domain)
    if channel is not None:
        return Verdict(address, "email", "official", label=f"{channel.label}（@{channel.value}）下的地址")
    domain_ident = Identifier("domain", domain, ident.start, ident.probe.rpartition("@")[2])
    imitated = _imitated(domain_ident, [*registry.email_domains.values(), *registry.domains.values()])
    if imitated is not None:
        same_local = f"{local}@{imitated}"
        imitated = same_local if same_local in registry.emails else imitated
    return Verdict(address, "email", "not_official", imitated)


def _imitated_account(ident: Identifier, names: Mapping[str, Channel]) -> str | None:
    """The official name this one contains, nearly spells or starts one character off (traditional
    characters read as simplified: 示例錢包服務中心, 示列钱包客服)."""
    name = to_simplified(ident.value)
    return next((official for official in names
                 if official in name or OSA.normalized_similarity(official, name) >= 0.6
                 or OSA.distance(name[:len(official)], official, score_cutoff=1) <= 1), None)


def _judge_by_table(ident: Identifier, table, fuzzy) -> Verdict:
    channel = table.get(ident.value)
    if channel is not None:
        return Verdict(ident.value, ident.kind, "official", label=channel.label)
    return Verdict(ident.value, ident.kind, "not_official", fuzzy(ident, table))


def judge(ident: Identifier, registry: Registry) -> Verdict:
    """The verdict on one identifier."""
    if ident.kind == "agent_id":
        return _judge_agent(ident, registry)
    if ident.kind == "phone":
        return _judge_phone(ident, registry)
    if ident.kind == "domain":
        return _judge_domain(ident, registry)
    if ident.kind == "email":
        return _judge_email(ident, registry)
    if ident.kind == "account_name":   # a name that contains or nearly spells ours imitates it
        return _judge_by_table(ident, registry.account_names, _imitated_account)
    if ident.kind == "wechat_id":
        return _judge_by_table(ident, registry.wechat_ids, lambda i, t: _imitated(i, list(t.values())))
    if ident.kind == "telegram":   # a handle made to look like the official account is a lookalike too
        return _judge_by_table(ident, registry.telegram,
                               lambda i, t: _imitated(i, [*t.values(), *registry.wechat_ids.values()]))
    return _judge_by_table(ident, registry.qq_numbers, lambda i, t: _nearest_by_digits(i.value, list(t)))


def check(text: str, registry: Registry) -> list[Verdict]:
    """Verdicts on the contacts the message asks about; [] if it asks about none.

    A link or domain that is not official is always judged, whatever the wording: the user
    may be about to open a phishing page ("wallet-examp1e.com 进去要输密码").
    """
    asked = verification_request(text)
    asked = with_named_accounts(asked, text, registry)
    if asked:
        return [judge(i, registry) for i in asked]
    identifiers = extract(text)
    verdicts = [judge(i, registry) for i in identifiers if i.kind == "domain"]
    if any(v.status != "official" for v in verdicts):
        return [judge(i, registry) for i in identifiers]
    return []


# --- reply -----------------------------------------------------------------------------------------

def _display(kind: str, value: str, registry: Registry, named: bool = True) -> str:
    if kind == "phone":
        if value in registry.phones:
            return registry.phones[value].display
        if len(value) == 11 and value.startswith("1"):
            return f"{value[:3]} {value[3:7]} {value[7:]}"
        if len(value) == 10 and value[:3] in ("400", "800"):
            return f"{value[:3]}-{value[3:6]}-{value[6:]}"
        if value.startswith("0") and len(value) >= 10:
            area = 3 if value[1] in "12" else 4
            return f"{value[:area]}-{value[area:]}"
        return value
    if kind == "account_name":
        return f"公众号「{value}」"
    prefix = {"agent_id": "工号 ", "wechat_id": "微信号 ", "qq": "QQ ", "telegram": "Telegram @"}.get(kind, "") \
        if named else ""
    return prefix + value


def verdict_line(verdict: Verdict, registry: Registry) -> str:
    """One line of a reply about one verdict."""
    brand = registry.brand.get("brand_name", "")
    shown = _display(verdict.kind, verdict.identifier, registry)
    channel = registry.phones.get(verdict.identifier) if verdict.kind == "phone" else None
    if verdict.status == "official" and channel is not None and channel.public_service:
        return f"✅ {shown}：{verdict.label}。"
    if verdict.status == "official":
        return f"✅ {shown}：是{brand}{verdict.label}。"
    if verdict.status == "revoked":
        since = f"已于{verdict.revoked_on}" if verdict.revoked_on else "已"
        return f"⚠️ {shown}：{since}停用（前员工），不再代表{brand}，请勿与其办理任何业务。"
    kind_name = KIND_NAMES.get(verdict.kind, "联系方式")
    line = f"❌ {shown}：不是{brand}的官方{kind_name}"
    if verdict.lookalike_of:
        line += f"，是仿冒 {_display(verdict.kind, verdict.lookalike_of, registry, named=False)} 的假{kind_name}"
    return line + "。"


def official_channels_text(registry: Registry) -> str:
    """The brand's real channels in one line, from the registry (brand facts merged in)."""
    parts = []
    for table in (registry.phones, registry.domains, registry.emails, registry.wechat_ids):
        parts += [f"{c.label} {c.display}" for c in registry.own(table)[:2]]
    return "；".join(parts)


def what_to_do_now(registry: Registry) -> str:
    brand = registry.brand
    return (f"现在请：停止与对方联系，不要转账，不要透露验证码、密码或助记词。"
            f"如已转账或泄露，请立即拨打 {brand.get('anti_fraud_hotline', '')} 反诈专线或报警 {brand.get('police', '')}。")


def never_asks(registry: Registry) -> str:
    """What official staff never ask for: brand.json's anti_fraud_footer when it has one."""
    brand = registry.brand
    footer = brand.get("anti_fraud_footer") or "{brand_name}官方客服绝不会让你转账到“安全账户”，也不会索要验证码、密码或助记词。"
    return footer.replace("{brand_name}", brand.get("brand_name", ""))


def _fit(head: list[str], lines: list[str], tail: list[str]) -> str:
    """Join, dropping verdict lines from the end until the message fits one WeChat text."""
    shown = list(lines)
    while True:
        more = [f"（另有 {len(lines) - len(shown)} 项未列出，请分开发送查询）"] if len(shown) < len(lines) else []
        text = "\n".join(head + shown + more + tail)
        size = len(text.encode("utf-8"))
        if size <= MAX_REPLY_BYTES:
            return text
        if len(shown) <= 1:
            # One verdict on a very long identifier: shorten that line, never the advice after it.
            line = shown[0].encode("utf-8") if shown else b""
            shown = [line[: max(0, len(line) - (size - MAX_REPLY_BYTES) - 3)].decode("utf-8", "ignore") + "…"]
            return "\n".join(head + shown + more + tail)
        shown.pop()


def reply_text(verdicts: list[Verdict], registry: Registry) -> str:
    """One short Chinese reply covering every verdict."""
    brand = registry.brand.get("brand_name", "")
    lines = [verdict_line(v, registry) for v in verdicts]
    tail = []
    own_phone = any(v.status == "official" and v.kind == "phone" and not registry.phones[v.identifier].public_service
                    for v in verdicts)
    if own_phone:
        tail.append("提醒：来电显示可以伪造，有疑问请挂断后主动拨打官方热线核实。")
    if any(v.status != "official" for v in verdicts):
        tail.append(f"{brand}官方渠道只有：{official_channels_text(registry)}。")
        tail.append(what_to_do_now(registry))
    else:
        tail.append(never_asks(registry))
    return _fit(["核实结果："], lines, tail)
