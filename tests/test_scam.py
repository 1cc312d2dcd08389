"""Scam-in-progress detection (bot.scam) and the scam_alert precheck (bot.safety)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.bench_safety import evaluate_scam, load_rows
from bot import scam
from bot.safety import make_prechecks
from config.settings import Settings

BRAND = json.loads((Path(__file__).resolve().parent.parent / "config" / "brand.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def scam_check():
    return make_prechecks(Settings())[0]


@pytest.fixture(scope="module")
def shipped_router():
    """The router the endpoint runs: the shipped model's reading, then the prechecks."""
    from bot.router import build_router, default_prechecks

    return build_router(Settings(), prechecks=default_prechecks(Settings()))


def test_labelled_set_is_big_enough_with_hard_negatives():
    rows = load_rows("scam_labelled.jsonl")
    assert len(rows) >= 60
    assert sum(r["scam"] for r in rows) >= 30
    assert sum(1 for r in rows if r.get("hard_negative")) >= 30


def test_labelled_precision_and_recall_floors():
    # Measured: precision 0.991, recall 1.000 on 212 messages (first pass on the last unseen round: 1.00 / 0.67).
    result = evaluate_scam(load_rows("scam_labelled.jsonl"))
    assert result["precision"] >= 0.95, result["misses"]
    assert result["recall"] >= 0.95, result["misses"]
    hard = evaluate_scam([r for r in load_rows("scam_labelled.jsonl") if r.get("hard_negative")])
    assert hard["fp"] <= 2, hard["misses"]


# One message per pattern the issue names; each must fire and name the signal that did it.
@pytest.mark.parametrize("text, signal", [
    ("有个自称客服的人让我把钱转到安全账户", "safe_account"),
    ("对方说是平台工作人员，需要我转账验证资金才能解冻", "verify_funds"),
    ("客服让我把手机收到的验证码告诉他", "sms_code"),
    ("自称官方的人要我提供支付密码核实身份", "password"),
    ("客服说钱包要升级，让我把助记词发给他", "seed_phrase"),
    ("对方说要同步节点，让我在他给的网页里输入助记词", "upgrade_or_sync"),
    ("客服让我下载腾讯会议开屏幕共享", "screen_or_remote"),
    ("工作人员让我装向日葵远程帮我处理", "screen_or_remote"),
    ("客服要我安装 TeamViewer 远程协助", "screen_or_remote"),
    ("客服说给我退款，但要先付一笔手续费", "pay_first"),
    ("自称银保监会的人说我开通了校园贷，要注销不然影响征信", "cancel_loan_or_student"),
    ("客服打电话说我开了学生账户，需要注销", "cancel_loan_or_student"),
    ("对方说是银行的，要帮我降低额度，让我操作转账", "lower_limit"),
    ("有个客服说我的账户异常，马上就要被冻结了", "account_threat"),
    ("客服在QQ上发了个链接让我登录领取补偿", "link"),
    ("警察打电话说我涉嫌洗钱，让我不要告诉任何人", "isolation"),
    ("对方打电话说我不交解冻金明天就注销，让我先转钱过去", "threat_if_not"),
    ("来电说是客服，要我把收到的短信码读一遍确认是本人", "sms_code"),
    ("对方自称银行客服，让我把卡背面的CVV告诉他", "password"),
    ("有人说是客服，说海外用户都要重新认证并缴认证费", "verify_funds"),
    ("客服发短信让我点一个 link 去填卡号", "link"),
    ("telegram shang you ge ren shuo shi ke fu, rang wo ba yan zheng ma fa gei ta", "secret_pinyin"),
    ("you ge ren zi cheng ke fu, yao wo gao su ta zhi fu mi ma", "secret_pinyin"),
])
def test_each_named_scam_pattern_fires_and_is_explained(text, signal):
    result = scam.detect(text)
    assert result.is_scam, (text, result)
    assert signal in result.signals
    assert result.score >= scam.THRESHOLD


@pytest.mark.parametrize("text", [
    "怎么设置支付密码", "客服让我提供工号核对", "怎么开启短信验证码", "我想找人工客服", "我的钱包怎么转账",
    "收不到验证码怎么办", "怎么备份助记词", "账户被冻结了怎么解冻", "钱包App怎么升级到最新版", "节点同步很慢怎么办",
    "官方会不会让我提供验证码", "客服说我的退款已经到账了", "怎么把钱转到银行卡", "", "   ",
    "shou bu dao yan zheng ma zen me ban", "wang ji mi ma le zen me zhao hui", "转了1000出去，对方只收到990",
])
def test_hard_negatives_stay_quiet(text):
    assert not scam.detect(text).is_scam


def test_no_actor_means_no_alert_unless_the_demand_is_decisive():
    # The same demands with nobody pushing are questions, not scams in progress...
    assert not scam.detect("屏幕共享要下载什么软件").is_scam
    # ...except the one no legitimate message has.
    assert scam.detect("要把钱转到安全账户吗").is_scam


def test_a_policy_question_is_hedged_but_the_same_event_fires():
    asked = scam.detect("客服会不会让我提供验证码？")
    happened = scam.detect("客服让我提供验证码")
    assert "hypothetical" in asked.signals and not asked.is_scam
    assert happened.is_scam and asked.score < happened.score


def test_signals_are_ordered_by_group_and_tips_explain_the_demands():
    result = scam.detect("自称客服的人让我把验证码和助记词发给他")
    groups = [next(s.group for s in scam.SIGNALS if s.name == name) for name in result.signals]
    assert groups == sorted(groups, key=scam.GROUPS.index)
    assert result.tips and all(result.tips)
    assert len(result.tips) <= 2


def test_scam_check_returns_a_priority_alert_with_brand_facts(scam_check):
    decision = scam_check("客服让我把验证码念给他，他说他工号是KF1006")
    assert decision.route == "scam_alert" and decision.priority is True
    assert decision.score >= scam.THRESHOLD
    for fact in ("hotline", "anti_fraud_hotline", "police", "service_hours"):
        assert BRAND[fact] in decision.reply, fact
    for advice in ("挂断", "不要转账", "验证码"):
        assert advice in decision.reply
    assert decision.verdicts == ({"identifier": "KF1006", "kind": "agent_id", "status": "not_official",
                                  "lookalike_of": "KF1005"},)
    assert "KF1006" in decision.reply
    assert len(decision.reply.encode("utf-8")) < 1500
    assert decision.to_json()["route"] == "scam_alert"


def test_scam_check_is_none_for_ordinary_questions(scam_check):
    assert scam_check("提现多久到账") is None
    assert scam_check("KF1003是你们的客服吗") is None  # a verification question, not a scam in progress


def test_prechecks_come_in_order_scam_then_verify():
    scam_check, verify_check = make_prechecks(Settings())
    text = "自称客服KF1006的人让我把钱转到安全账户"
    assert scam_check(text).route == "scam_alert"
    assert verify_check(text).route == "verify"  # the router stops at the first: the alert wins
    assert verify_check("KF1006是客服吗").route == "verify"


@pytest.mark.parametrize("text", [
    "收到短信说账户被限制，请登录 http://wallet.example.com.verify-cn.top/login 输入支付密码解除限制",
    "【示例钱包】退款待领取，打开 https://refund.wallet-examp1e.cc/get 填写银行卡号和短信验证码即可到账",
    "wallet-example.top 客服 让我输卡号+cvv",                                   # a bare address, no http
])
def test_a_link_that_asks_for_a_secret_is_phishing(scam_check, text):
    assert "link_secret" in scam.detect(text).signals
    decision = scam_check(text)
    assert decision is not None and decision.route == "scam_alert"
    assert any(v["status"] == "not_official" for v in decision.verdicts)


@pytest.mark.parametrize("text", [
    "support@wallet-examp1e.com 发的链接 http://secure-wallet-examp1e.com/reset 我点了，还在上面改了密码",
    "I already entered my password on https://wallet-example.com/verify, what now",
    "给工号KF1006的那个客服说了验证码，钱没了",
    "我点了短信里那个链接，还把密码输进去了，网址是 wa11et.example.com",       # 把 + secret + verb + 了
    "clicked the link in an email from support@wallet-example.com, 登录了一下, is my account safe?",
    "已經把驗證碼畀咗 KF1006 個假客服",                                        # Cantonese, traditional
])
def test_a_secret_already_given_to_a_contact_not_ours_is_a_victim(scam_check, text):
    decision = scam_check(text)
    assert decision is not None and decision.route == "scam_alert"
    first_steps = scam.victim_text(BRAND, ()).split("\n")[:3]   # the victim's steps, not the warning
    assert decision.reply.split("\n")[:3] == first_steps


@pytest.mark.parametrize("text", ["我改了密码还是登不上", "在 wallet.example.com 上改了密码，要重新登录吗",
                                  "改支付密码的时候输入验证码提示错误"])
def test_changing_ones_own_password_is_not_a_secret_given_away(scam_check, text):
    assert scam_check(text) is None


@pytest.mark.parametrize("text", ["客服让我把验证码念给他", "他叫我把密码发过去，我还没发",
                                  "收到邮件说我的账户在境外登录了"])
def test_being_asked_for_a_secret_is_not_having_given_it(text):
    assert scam.SECRET_GIVEN not in scam.detect(text).signals


def test_a_seed_phrase_asked_for_in_english_is_a_demand():
    assert "seed_phrase" in scam.detect("the email asks me to log in and enter my 助记词").signals


def test_traditional_characters_read_as_simplified_for_the_signals():
    assert scam.detect("對方叫我開視訊會議分享螢幕").signals == scam.detect("对方叫我开视讯会议分享屏幕").signals
    assert "cancel_membership" in scam.detect("佢叫我取消百萬保障").signals


@pytest.mark.parametrize("text, identifier", [
    ("「示例钱包客服中心」的客服让我开视频共享屏幕，说教我注销学生账户", "示例钱包客服中心"),   # a quoted fake account
    ("demowallet_official asked me for the 6-digit code sent to my phone, 要给吗", "demowallet_official"),
])
def test_an_alert_names_the_contact_behind_the_demand(scam_check, text, identifier):
    decision = scam_check(text)
    assert decision is not None and decision.route == "scam_alert"
    assert identifier in [v["identifier"] for v in decision.verdicts]


@pytest.mark.parametrize("text", [
    "今天KF1005打电话给我，问了问经过，全程没有让我提供任何密码或验证码，这个工号是真的吗",
    "KF1001提醒我千万不要把验证码告诉任何人，这个工号应该是真的吧？",
    "pay.wallet.example.com 付款的时候跳到这个页面 是真的吧",   # a payment named, nobody asking
])
def test_a_demand_said_not_to_be_made_or_nobody_making_it_leaves_the_contact_check(shipped_router, text):
    decision, _ = shipped_router.route(text)
    assert decision.route == "verify" and decision.verdicts[0]["status"] == "official"


@pytest.mark.parametrize("text, hedge", [
    ("全程没有让我提供任何密码或验证码", "negated_demand"),
    ("提醒我千万不要把验证码告诉任何人", "negated_demand"),
    ("有个人加我微信让我开屏幕共享，我没理他，直接拉黑了", "declined"),
    ("Got a scam text asking for my seed phrase, ignored it.", "declined"),
])
def test_negated_and_declined_demands_are_hedges(text, hedge):
    result = scam.detect(text)
    assert hedge in result.signals and result.groups["hedge"] < 0


@pytest.mark.parametrize("text", [
    "Someone called from +86 400 888 6688 saying my account will be frozen unless I pay a reactivation fee of 300 CAD",
    "客服 KF1001 用 02161234567 打给我，让我把验证码发到他微信 kf_anan2024",
    "登录页要我输手机号和SMS code，发件人是 wallet-example.net",
    "KF1002 called and asked me to read out the code I just got",
    "@wallet_help_desk says he can restore my coins if I send him my 12-word recovery phrase",
    "A guy said he's from 400-888-6688 and I must move all my funds to a new wallet he set up",
    "Mail from help@wallet-example.io: confirm the refund by replying with the OTP",
])
def test_demands_in_english_typed_in_or_sent_elsewhere_with_a_contact_are_scams(scam_check, text):
    decision = scam_check(text)
    assert decision is not None and decision.route == "scam_alert"


def test_a_password_typed_in_for_a_handle_not_ours_is_a_victim(scam_check):
    decision = scam_check("TG机器人 @wallet_refund_bot 让我输支付密码退款，我输了，结果钱反而被扣了")
    assert "secret_given" in scam.detect("让我输支付密码退款，我输了").signals
    assert decision is not None and decision.route == "scam_alert" and decision.reply.startswith("别慌")
