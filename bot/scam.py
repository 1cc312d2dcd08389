"""Detection of a scam in progress, and the urgent warning sent back.

A message is a scam alert when someone *other than the user* (a "客服", a
platform, police, a bank, a caller) pushes the user toward money or secrets.
`detect(text)` scores weighted signals in five groups and fires when

    actor + request + demand + pressure + hedge >= THRESHOLD  and  demand >= MIN_DEMAND
    and (an actor or a request matched, or one demand alone is decisive: 安全账户)

- actor: a claimed identity or outside contact (自称客服, 警察, 对方, 打电话); the strongest counts;
- request: something asked *of the user* (让我, 要我, 问我要); counted once;
- demand: what the scam is after (安全账户, 验证资金, the SMS code, the mnemonic, screen sharing,
  pay-first refunds, 注销校园贷, "account abnormal, about to be frozen"); the two strongest count;
- pressure: urgency and isolation (马上, 影响征信, 不要告诉别人); capped;
- hedge: a hypothetical policy question ("官方会不会让我提供验证码") lowers the score.

So "怎么设置支付密码" (no actor, no demand) and "客服让我提供工号核对" (no demand) stay
quiet. `ScamResult.signals` names every matched signal, for logs and the CLI.
`alert_text(result, brand)` is the reply. Plain Python, never raises.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping

from bot.normalize import to_simplified
from bot.verifier import normalize_text

THRESHOLD = 1.0
MIN_DEMAND = 0.5
#: A demand this strong needs nobody named: no legitimate message asks to move money to a "safe account".
DECISIVE = 1.0
GROUPS = ("actor", "request", "demand", "pressure", "hedge")
_PRESSURE_CAP = 0.4
_DEMAND_CAP = 1.2

# Verbs of handing something over to someone else (not of using it yourself).
_GIVE = r"(?:提供|告诉|发给|发送给|发过去|发到(?:他|她|对方|群|微信|qq)|报给|报一下|念给|念出|说出|给他|给她|给对方|给客服|给了|问我要|找我要|跟我要|向我要|要我的|截图|转发|报(?![警案名])|读给|读一遍|读出|读一下|核对|回复|give|send|tell|share|provide|ask(?:ed|s|ing)? (?:me )?for|read (?:it |them )?out|repl(?:y|ying|ied) with)"
_SECRET_CODE = r"(?:验证码|验正码|验症码|[46][- ]?digit code|短信码|动态码|校验码|动态密码|验证短信|短信验证|短信内容|[46六四]位(?:数字|数|码)|verification code|sms code|otp|\bcode\b|yzm)"
_PASSWORD = r"(?:(?:支付|登录|交易|银行卡|取款|账户|账号)?密码|password|\bpin\b|cvv|cvn|安全码|背面(?:的)?(?:三位|3位))"
_SEED = (r"(?:助记词|私钥|密钥|keystore|恢复短语|钱包备份|(?:12|24|十二|二十四)个(?:单词|英文单词|词)"
         r"|(?:seed|recovery|secret|backup) (?:phrase|words)|mnemonic|private key|(?:12|24)[- ]word)")
_SEED_VERBS = r"(?:提供|告诉|发|给|报|念|截图|导入|输入|填|复制|粘贴|同步|验证|上传|登录|enter|type|submit|import|paste|send|share)"
_NEAR = "[^,.!?;。！？]{0,8}"  # within one clause
# The same demands typed in pinyin ("rang wo ba yan zheng ma fa gei ta"): syllables are longer than
# characters, so they may stand further apart.
_GIVE_PINYIN = r"(?:fa ?gei|gao ?su|ti ?gong|bao ?gei|nian ?gei|du ?gei|he ?dui|gei ?(?:ta|ni|wo))"
_SECRET_PINYIN = r"(?:yan ?zheng ?ma|mi ?ma|zhu ?ji ?ci|si ?yao)"
# What a phishing page asks to be typed in.
_PAGE_SECRET = rf"(?:{_PASSWORD}|{_SECRET_CODE}|卡号|银行卡|身份证)"
# What a user may say they already handed over.
_GIVEN_SECRET = rf"(?:{_PASSWORD}|{_SECRET_CODE}|卡号|助记词|私钥)"
#: A link or a bare web address ("wallet-example.top 让我输卡号").
_WEB_ADDRESS = (r"(?:https?://|www\.|(?<![a-z0-9@.-])[a-z0-9-]+(?:\.[a-z0-9-]+)*"
                r"\.(?:com|cn|net|org|top|xyz|vip|cc|app|io|info|shop|site|online|co|me|tk|club)(?![a-z0-9-]))")


@dataclass(frozen=True)
class Signal:
    name: str
    group: str       # actor | request | demand | pressure | hedge
    weight: float
    pattern: re.Pattern
    tip: str = ""    # one line for the alert: why this is a scam


def _s(name: str, group: str, weight: float, pattern: str, tip: str = "") -> Signal:
    return Signal(name, group, weight, re.compile(pattern, re.I), tip)


#: The signal of a user who says they already typed or gave a secret: with a contact that is not
#: ours in the same message, they are a victim (bot.safety), whatever the model reads.
SECRET_GIVEN = "secret_given"

SIGNALS: tuple[Signal, ...] = (
    # --- actor: who is pushing ---
    _s("claims_identity", "actor", 0.5, r"自称|冒充|假冒|说是|说他是|说她是|声称|说自己是|\bzi ?cheng\b|\bshuo ?shi\b|\bmao ?chong\b"),
    _s("staff_or_authority", "actor", 0.4,
       r"客服|工作人员|官方|平台|专员|经理|警察|警官|民警|公安|派出所|检察院|法院|银行(?!卡)|银保监|金融监管|监管局|网警|快递|海关|税务|社保|医保|\bke ?fu\b|\bjing ?cha\b|\bgong ?an\b"),
    _s("outside_contact", "actor", 0.35, r"打电话|电话|来电|打来|给我打|打给我|通话|加我|私信|发短信|拉我进群|陌生人|有人|对方|一个人|那个人|[他她]们?说"
       r"|收到(?:一[封条个])?(?:邮件|email|短信|信息)|someone|somebody|a (?:guy|man|woman|lady)|(?:called|texted|emailed|messaged|dm'?ed) me"
       r"|(?:he|she|they|caller) (?:said|says|told|asked)|claim(?:s|ed|ing)? to be"),
    # --- request: asked of the user ---
    _s("asks_the_user", "request", 0.25,
       r"(?:让|叫|要|要求|逼|催|指导|教|需要|通知)我|问我要|找我要|跟我要|向我要|说我|\b(?:rang|jiao|yao) ?wo\b"
       r"|\b(?:asks?|asked|asking|tells?|told|telling|wants?|wanted|urges?|urged|needs?) me\b"),
    # --- demand: what the scam is after ---
    _s("safe_account", "demand", 1.0, r"(?:安全|清查|监管|核查|国库|验资|备用)(?:账户|账号|钱包)|资金清查",
       "官方和公安机关都没有“安全账户”，让你转钱“保安全”的都是诈骗。"),
    _s("designated_account", "demand", 0.6,
       r"指定(?:账户|账号|地址)|一个账户|转给(?:他|她|对方|他们)|(?:他|她|对方)(?:来)?保管"
       r"|(?:他|她|对方|他们)(?:的|给的|发的|提供的)(?:银行卡|卡|账户|账号|地址|钱包)",
       "不要往任何“指定账户”转钱。"),
    _s("verify_funds", "demand", 0.7,
       r"验证资金|资金验证|刷流水|流水|解冻金|解冻费|保证金|认证金|激活金|还款能力|证明.{0,6}(?:资金|还款)"
       r"|(?:认证|激活|审核|验证|解封|解锁|通道|出款|验资)费"
       r"|测试.{0,4}(?:账户|收款|转账|到账)|(?:转|打|存).{0,6}钱.{0,4}(?:证明|验证|核验|测试)",
       "“验证资金”“刷流水”“保证金/解冻金”都是骗局，钱转出去就追不回。"),
    _s("transfer", "demand", 0.4, r"转账|转钱|转到|转入|转给|打钱|打款|汇款|转币|充值|交钱|付款|缴纳|先交|先付|先转|transfer|wire|deposit|send money"),
    _s("sms_code", "demand", 0.7, rf"{_GIVE}{_NEAR}{_SECRET_CODE}|{_SECRET_CODE}{_NEAR}{_GIVE}",
       "验证码只能你自己用，谁要都不能给，官方客服绝不会索要。"),
    _s("password", "demand", 0.7, rf"{_GIVE}{_NEAR}{_PASSWORD}|{_PASSWORD}{_NEAR}{_GIVE}",
       "密码只有你自己知道，官方客服绝不会索要。"),
    _s("secret_pinyin", "demand", 0.7,
       rf"{_GIVE_PINYIN}[a-z ]{{0,24}}{_SECRET_PINYIN}|{_SECRET_PINYIN}[a-z ,]{{0,24}}{_GIVE_PINYIN}",
       "验证码、密码、助记词只能你自己用，谁要都不能给，官方客服绝不会索要。"),
    _s("type_secret", "demand", 0.7,
       rf"(?:(?:让|叫|要求|逼|催|指导|教)我|要我)[^,.!?;。！？]{{0,12}}(?:填|输|键入|enter|type){_NEAR}{_PAGE_SECRET}"
       rf"|(?:asked|told|wants?) me to (?:enter|type|fill in|input)[^.!?]{{0,24}}(?:password|code|pin|card|cvv)",
       "谁让你在哪里输入密码或验证码都不要照做，官方客服绝不会这样要求。"),
    _s("seed_phrase", "demand", 0.9, rf"{_SEED_VERBS}{_NEAR}{_SEED}|{_SEED}{_NEAR}{_SEED_VERBS}",
       "助记词/私钥就是你的钱包，给了别人资产会被立刻转走，官方永远不会索要。"),
    _s("upgrade_or_sync", "demand", 0.5, r"升级钱包|钱包(?:要|需要|需|必须)?升级|同步节点|节点同步|节点验证|钱包验证|钱包认证",
       "官方不会让你“升级钱包”“同步节点”来交出助记词。"),
    _s("screen_or_remote", "demand", 0.6,
       r"(?:屏幕|萤幕|荧幕)(?:共享|分享)|(?:共享|分享)(?:屏幕|萤幕|荧幕)|开共享|视讯会议|屏幕.{0,6}(?:给他|给她|给对方|给你)看|录屏|腾讯会议|会议号|会议室|向日葵|zoom|teamviewer|todesk|anydesk|远程协助|远程控制|远程操作|远程帮",
       "不要共享屏幕、不要装会议或远程软件，对方能看到验证码、操控你的手机。"),
    _s("pay_first", "demand", 0.8,
       r"(?:退款|理赔|赔偿|补偿|赔付|返现|退费|退还|中奖|奖金|领取|解冻|提现|放款|贷款|空投|红包|修复|加急|通道).{0,15}"
       r"(?:先|需要|要|得|才能)"
       r".{0,8}(?:交|付|缴|转|充|打款|刷|垫付|税|保证金|手续费)"
       r"|(?:先|需要)(?:交|付|缴|转|充).{0,10}(?:才能|就能|才可以).{0,6}(?:退款|理赔|解冻|提现|到账|放款|领)"
       r"|(?:deposit|fee|pay|transfer).{0,20}(?:unlock|unfreeze|release|refund|withdraw)"
       r"|(?:frozen|freeze|locked|suspended|closed|blocked).{0,40}(?:unless|until|if).{0,20}(?:pay|fee|transfer|deposit)"
       r"|(?:reactivation|activation|unfreeze|unlock|verification|release|processing) fee",
       "退款、理赔、补偿、解冻从来不需要你先付钱。"),
    _s("cancel_loan_or_student", "demand", 0.8,
       r"注销.{0,6}(?:校园贷|学生账户|学生贷|学生身份|贷款账户|网贷|金融账户)|(?:校园贷|学生账户|学生贷|贷款账户|网贷).{0,10}注销"
       r"|修复征信|征信修复|征信.{0,8}修复|逾期.{0,10}还款到",
       "“注销校园贷/学生账户”“修复征信”是常见骗局，征信问题只找人民银行征信中心。"),
    _s("cancel_membership", "demand", 0.5,
       r"(?:取消|关闭).{0,12}(?:会员|扣费|扣钱|续费|百万保障)|误开|(?:会员|扣费|扣钱|自动续费|贷款服务|百万保障).{0,12}(?:关闭|取消)",
       "取消会员或扣费不需要转账、也不需要验证码。"),
    _s("lower_limit", "demand", 0.6, r"(?:降低|调低|下调|关闭).{0,4}(?:额度|利率|费率|百万保障)",
       "调整额度或利率不需要转账。"),
    _s("account_threat", "demand", 0.6,
       r"(?:异常|风险|违规|涉嫌|被盗|不安全|被冒用|涉案|被黑|黑客|被盯上|被攻击|异地登录|被登录|盗号|盗刷).{0,15}"
       r"(?:冻结|封号|封禁|注销|停用|限制|拉黑|起诉|逮捕|转移|转到|转出)|涉嫌洗钱|洗钱|涉案|诈骗案|通缉",
       "“账户异常马上冻结”“涉嫌洗钱”是吓唬你的话术，请自己打开官方App或拨官方热线核实。"),
    _s("link", "demand", 0.6,
       r"(?:链接|网址|网页|网站|二维码|link)(?:\s*[a-z0-9.:/_?=&%-]{4,80}\s*)?.{0,12}(?:登录|填|输入|领取|扫码|点开|点进去)"
       r"|(?:点|打开|扫).{0,4}(?:链接|网址|二维码|link|url)"
       r"|(?:qq|微信|wx|vx).{0,10}(?:链接|网址|二维码)|(?:他|她|对方|他们)(?:的|给的|发的)(?:网站|网址|网页|链接|页面)",
       "不要点陌生人发来的链接，更不要在里面登录或输入任何信息。"),
    _s("link_secret", "demand", 0.7,
       rf"{_WEB_ADDRESS}\S*[^。！？!?]{{0,16}}(?:输入|填写|填入|填|提交|登录|输){_NEAR}{_PAGE_SECRET}"
       rf"|(?:输入|填写|填入|填|提交){_NEAR}{_PAGE_SECRET}[^。！？!?]{{0,16}}{_WEB_ADDRESS}"
       rf"|{_WEB_ADDRESS}\S*[^.!?。！？]{{0,24}}\b(?:enter|type|input|fill in|submit)\b[^.!?]{{0,20}}"
       r"(?:password|code|otp|pin|card|cvv)",
       "正规通知不会让你打开链接填密码、验证码或卡号，这是钓鱼网站。"),
    _s("secret_given", "demand", 0.7,
       rf"(?:输了|输入了|填了|填写了|给了|告诉了|说了|念了|发给了|发了|报了|提交了|登录了|(?:上面|里面|网页|页面|网站|链接)[^,.!?;。！？]{{0,4}}改了)"
       rf"{_NEAR}(?:{_GIVEN_SECRET}|银行卡)"
       rf"|把{_NEAR}{_GIVEN_SECRET}{_NEAR}(?:输|填|告诉|给|报|发|念|说|讲|打|畀|俾)[^,.!?;。！？]{{0,6}}[了咗]"
       rf"|(?:畀咗|俾咗|讲咗|报咗|输咗|填咗|话咗){_NEAR}{_GIVEN_SECRET}"
       r"|(?:点了|点开|点进|打开了|clicked|opened|tapped).{0,64}(?:登录了|登陆了|登进去|登上去)"
       r"|(?:already|just)\s+(?:entered|typed|gave|sent|shared|submitted|changed)[^.!?]{0,24}(?:password|code|pin|card|seed|key)"
       rf"|{_GIVEN_SECRET}[^。！？!?]{{0,16}}[，,、 ]\s*我?(?:也|就|都|还)?(?:输了|填了|给了|给他了|给她了|告诉他了|告诉她了|发了|发过去了|报了|照做了)"
       r"|\bi\s+(?:logged|signed)\s+in\b",
       "已经在陌生页面输过密码或验证码：马上改密码，并拨热线冻结账户。"),
    _s("install_app", "demand", 0.5, r"下载.{0,10}(?:app|软件|应用|客户端)|安装.{0,6}(?:app|软件|应用)|(?:app|软件).{0,6}(?:下载|安装)",
       "不要安装对方发来的App。"),
    _s("move_assets", "demand", 0.8,
       r"(?:币|资产|余额|钱|资金|usdt).{0,10}(?:转到|转入|转移到|转移|迁移到|迁移|转至|转给).{0,12}"
       r"(?:新|冷|他|她|对方|指定|提供|发的|给的).{0,6}(?:地址|钱包|账户|卡)"
       r"|(?:move|transfer|send)\s+(?:all\s+)?(?:of\s+)?(?:my|your|the)?\s*(?:funds|money|balance|coins|assets|crypto|usdt)"
       r"[^.!?]{0,30}(?:new|safe|another|their|his|her|secure)\s+(?:wallet|account|address)",
       "不要把资产转到任何“新地址/新钱包”。"),
    _s("lure", "demand", 0.3, r"赔偿|补偿|理赔|赔付|赔我|赔你|领取.{0,6}(?:奖|红包|空投|福利|返现)|中奖|中了|空投|返现|红包"),
    _s("private_chat", "demand", 0.4, r"加(?:他|她|对方|我)?的?(?:qq|微信|企业微信)|(?:qq|微信)(?:上|里)?(?:联系|处理|办理)|私聊",
       "正规客服只在官方渠道处理，不会让你加私人QQ/微信。"),
    _s("pay_upfront", "demand", 0.6, r"(?:需要|要|得)先(?:交|付|支付|缴|转|充)",
       "任何要你“先交钱”的都要警惕。"),
    _s("fine_or_tax", "demand", 0.6, r"罚款|罚金|交税|缴税|个人所得税|税费", "政府部门不会打电话让你交罚款或税费。"),
    _s("guided_steps", "demand", 0.4, r"按(?:他|她|对方|他们)(?:说的|的指示|的指导|的步骤)"),
    _s("contract_approval", "demand", 0.8, r"授权.{0,8}(?:合约|dapp|钱包)|(?:合约|dapp).{0,6}授权|approve",
       "不要授权陌生合约或DApp，授权后资产可被直接转走。"),
    _s("task_or_invest", "demand", 0.5, r"带单|刷单|返利|稳赚|内幕|高收益|保本|做任务|垫付",
       "“带单赚钱”“刷单返利”都是骗局。"),
    _s("isolation", "demand", 0.6, r"(?:不要|别|不能|不许)(?:挂|挂断|告诉|跟.{0,4}说)|保密|配合调查|视频核实|关机",
       "真警察不会电话办案，不会让你保密或转账。"),
    # --- pressure ---
    _s("urgency", "pressure", 0.2, r"马上|立即|立刻|赶紧|尽快|今天之内|限时|否则|不然|逾期"),
    _s("credit_threat", "pressure", 0.3, r"影响征信|征信"),
    _s("threat_if_not", "pressure", 0.3,
       r"不(?:交|付|缴|转|给|配合|操作|照做|处理|办理?)[^,.!?;。！？]{0,10}(?:就|会|将|要被)"
       r"|(?:否则|不然)[^,.!?;。！？]{0,8}(?:冻结|注销|封|起诉|逮捕|扣|上征信)"),
    # --- hedge: a question about policy, not an event ---
    _s("hypothetical", "hedge", -0.6, r"会不会|是否会|可能会|会(?:让|要|叫|要求|找|问).{0,15}吗"),
    # A demand said not to have been made, or warned against: "全程没有让我提供密码", "提醒我千万不要把验证码告诉任何人".
    _s("negated_demand", "hedge", -0.6,
       r"(?:没有?|从没有?|从来没有?|从不|不会|并没有?|也没有?|有没有)(?:主动)?(?:[^,.!?;。！？]{0,5}?)(?:让|叫|要求?|问|找|跟|向)(?:我|人|用户|你)?"
       rf"[^,.!?;。！？]{{0,10}}(?:提供|告诉|发|给|报|输|填|要|转账|转钱|打钱|共享|下载)"
       rf"|(?:千万|一定|切记|绝对)?(?:不要|别|不能|切勿|勿|不可)(?:把|将)?[^,.!?;。！？]{{0,6}}(?:{_SECRET_CODE}|{_PASSWORD}|助记词)"
       r"[^,.!?;。！？]{0,6}(?:告诉|给|发|透露|泄露|提供)"
       r"|(?:never|don'?t|do not) (?:share|give|tell|send)"),
    # The user turned the contact down: "我没理他，直接拉黑了", "ignored it".
    _s("declined", "hedge", -0.6,
       r"没理|没搭理|没得理|不理(?:他|她|它|对方)|拉黑|删了(?:他|她|对方)|挂了电话|直接挂了?|挂掉了|没上当|没有上当|识破|撅回去"
       r"|(?:没|没有)(?:给|转|点|按|下载|装|开)(?:他|她|对方)?(?:[^,.!?;。！？]{0,4})?(?:就|直接)?(?:挂|拉黑|删)"
       r"|\bignored\b|hung up|blocked (?:him|her|them|it|the)|didn'?t (?:reply|answer|give|click|pay|send)"),
)


@dataclass(frozen=True)
class ScamResult:
    is_scam: bool
    score: float
    #: names of every matched signal, strongest first within each group
    signals: tuple[str, ...] = ()
    #: one-line explanations of the strongest demands, for the alert
    tips: tuple[str, ...] = ()
    #: the strength of each group as it entered the score (the model reads these as features)
    groups: Mapping[str, float] = field(default_factory=dict)


@lru_cache(maxsize=4096)
def detect(text: str) -> ScamResult:
    """Score a message; `is_scam` when someone is pushing the user toward money or secrets."""
    text = to_simplified(normalize_text(text))
    if not text.strip():
        return ScamResult(False, 0.0)
    matched = [s for s in SIGNALS if s.pattern.search(text)]
    by_group: dict[str, list[Signal]] = {}
    for signal in sorted(matched, key=lambda s: -s.weight):
        by_group.setdefault(signal.group, []).append(signal)
    demands = by_group.get("demand", [])
    demand = min(_DEMAND_CAP, sum(s.weight for s in demands[:2]))
    groups = {
        "actor": max((s.weight for s in by_group.get("actor", [])), default=0.0),
        "request": max((s.weight for s in by_group.get("request", [])), default=0.0),
        "demand": demand,
        "pressure": min(_PRESSURE_CAP, sum(s.weight for s in by_group.get("pressure", []))),
        "hedge": sum(s.weight for s in by_group.get("hedge", [])),
    }
    score = round(sum(groups.values()), 2)
    names = tuple(s.name for group in GROUPS for s in by_group.get(group, []))
    tips = tuple(s.tip for s in demands if s.tip)[:2]
    pushed = "actor" in by_group or "request" in by_group or any(s.weight >= DECISIVE for s in demands)
    return ScamResult(pushed and score >= THRESHOLD and demand >= MIN_DEMAND, score, names, tips, groups)


def alert_text(result: ScamResult, brand: Mapping[str, str], extra_lines: tuple[str, ...] = ()) -> str:
    """The urgent warning: why, what to do now, the real hotline, 96110/110."""
    lines = ["⚠️ 请立即停止操作！这很可能是冒充客服/公检法的诈骗。", *result.tips, *extra_lines]
    lines.append("马上：挂断电话、停止联系对方；不要转账或付任何费用；不要提供验证码、密码、助记词；不要共享屏幕。")
    hours = f"（{brand['service_hours']}）" if brand.get("service_hours") else ""
    lines.append(f"核实请只拨{brand.get('brand_name', '')}官方热线 {brand.get('hotline', '')}{hours}。")
    lines.append(f"如已转账或泄露信息，请立即拨打 {brand.get('anti_fraud_hotline', '')} 反诈专线或报警 "
                 f"{brand.get('police', '')}。人工客服会优先处理你的消息。")
    return "\n".join(lines)


#: Added to an alert when the contact named is official but the demand is one staff never make.
EVEN_IF_REAL = "即使号码/工号/网址是真的，官方人员也绝不会索要验证码、密码、助记词，不会让你转账、共享屏幕或装远程软件——提这种要求的就是骗子，或者对方冒用了官方号码。"


def victim_text(brand: Mapping[str, str], extra_lines: tuple[str, ...] = ()) -> str:
    """After the fact (money sent, a code or password given): what to do now, in order."""
    lines = ["别慌，现在按这个顺序做，越快越有机会挽回：",
             "1. 立即停止付款，不要再回复、不要再联系对方，也不要再点对方发的任何链接；",
             f"2. 马上拨打 {brand.get('police', '110')} 报警，并拨打全国反诈专线 {brand.get('anti_fraud_hotline', '96110')}；",
             f"3. 拨打{brand.get('brand_name', '')}官方热线 {brand.get('hotline', '')}，申请冻结账户、拦截还没到账的款项；",
             "4. 保留证据：聊天记录截图、转账记录、对方的电话/账号/链接，不要删除；",
             "5. 立刻修改登录密码和支付密码，在「安全中心」下线陌生设备；如果泄露的是助记词，马上把资产转到新钱包；",
             "6. 我们会：人工客服优先处理你的情况，协助冻结和调取交易记录，配合警方追查。",
             *extra_lines]
    return "\n".join(lines)

