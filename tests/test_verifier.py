"""Verification of claimed official contacts (bot.verifier, bot.safety.verify_check),
recording of verdicts (Storage.record_verification) and `python -m bot verify report`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from benchmarks.bench_safety import evaluate_verify, load_rows
from bot import verifier
from bot.channels import load_registry
from bot.commands import verify as verify_command
from bot.safety import make_prechecks
from config.settings import Settings

CONFIG = Path(__file__).resolve().parent.parent / "config"
BRAND = json.loads((CONFIG / "brand.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def registry():
    return load_registry(CONFIG / "official_channels.json", CONFIG / "brand.json")


@pytest.fixture(scope="module")
def verify_check():
    return make_prechecks(Settings())[1]


def verdicts(text, registry):
    return [v.as_dict() for v in verifier.check(text, registry)]


# --- the labelled set (tests/data/verify_labelled.jsonl) ---------------------------------------

def test_labelled_set_is_big_enough_and_covers_every_kind_and_status():
    rows = load_rows("verify_labelled.jsonl")
    expected = [v for row in rows for v in row["expect"]]
    assert len(rows) >= 60
    assert {v["kind"] for v in expected} == set(verifier.KIND_NAMES)
    assert {v["status"] for v in expected} == {"official", "revoked", "not_official"}
    assert sum(1 for v in expected if v["lookalike_of"]) >= 20
    assert sum(1 for row in rows if not row["expect"]) >= 20


def test_labelled_accuracy_floors(registry):
    # Measured: route P 0.992 R 1.000, lookalikes P 1.000 R 1.000, exact verdicts 0.994 (164 messages).
    result = evaluate_verify(load_rows("verify_labelled.jsonl"), registry)
    assert result["route"]["precision"] >= 0.95, result["misses"]
    assert result["route"]["recall"] >= 0.95, result["misses"]
    assert result["lookalike"]["precision"] >= 0.95, result["misses"]
    assert result["lookalike"]["recall"] >= 0.90, result["misses"]
    assert result["exact"] >= 0.93, result["misses"]


# --- canonical verdicts ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, identifier, kind, status, lookalike_of", [
    ("KF1003是你们的客服吗", "KF1003", "agent_id", "official", None),
    ("KF0999还在职吗", "KF0999", "agent_id", "revoked", None),
    ("KF1006是你们客服吗", "KF1006", "agent_id", "not_official", "KF1005"),
    ("工号9527是真的吗", "KF9527", "agent_id", "not_official", None),
    ("400-888-6688是官方电话吗", "4008886688", "phone", "official", None),
    ("4008886689是官方电话吗", "4008886689", "phone", "not_official", "4008886688"),
    ("4008886868是官方电话吗", "4008886868", "phone", "not_official", "4008886688"),  # two digits swapped
    ("13812345678是你们客服吗", "13812345678", "phone", "not_official", None),
    ("help.wallet.example.com 是官网吗", "help.wallet.example.com", "domain", "official", None),
    ("wallet-example.com 是官网吗", "wallet-example.com", "domain", "not_official", "wallet.example.com"),
    ("wa11et.example.com 是官网吗", "wa11et.example.com", "domain", "not_official", "wallet.example.com"),
    ("wallet.example.com.evil.cn 是官网吗", "wallet.example.com.evil.cn", "domain", "not_official", "wallet.example.com"),
    ("wallet.example.com-secure.top 是官网吗", "wallet.example.com-secure.top", "domain", "not_official",
     "wallet.example.com"),
    ("walletexample-kefu.com 是官网吗", "walletexample-kefu.com", "domain", "not_official", "wallet.example.com"),
    ("xn--wllet-4ve.example.com 是官网吗", "xn--wllet-4ve.example.com", "domain", "not_official", "wallet.example.com"),
    ("w\u0430llet.example.com 是官网吗", "w\u0430llet.example.com", "domain", "not_official", "wallet.example.com"),
    ("example.com 是官网吗", "example.com", "domain", "not_official", None),
    ("support@wallet.example.com 是官方邮箱吗", "support@wallet.example.com", "email", "official", None),
    ("support@wallet-example.com 是官方邮箱吗", "support@wallet-example.com", "email", "not_official",
     "support@wallet.example.com"),
    ("微信号 demo_wallet_official 是官方吗", "demo_wallet_official", "wechat_id", "official", None),
    ("微信号 demo_wallet_officia1 是官方吗", "demo_wallet_officia1", "wechat_id", "not_official", "demo_wallet_official"),
    ("QQ 12345678 说是客服", "12345678", "qq", "not_official", None),
    ("KF1O02 是你们的工号吗", "KF1O02", "agent_id", "not_official", "KF1002"),       # a letter O for the 0
    ("kfl005是真的吗", "KFL005", "agent_id", "not_official", "KF1005"),
    ("4008886868是不是官方", "4008886868", "phone", "not_official", "4008886688"),
    ("4006888868是不是官方", "4006888868", "phone", "not_official", "4008886688"),  # the same digits shuffled
    ("950888说是你们客服？", "950888", "phone", "not_official", None),              # a 6-digit 95 number
    ("zhe ge dianhua 400 888 6689 shi ni men de ma", "4008886689", "phone", "not_official", "4008886688"),
    ("收到 support@wallet-example.com 的郵件，這個信箱是你們的嗎", "support@wallet-example.com", "email",
     "not_official", "support@wallet.example.com"),                                 # cues in traditional characters
    ("QQ突然弹出好友申请 3345678901 备注是示例钱包客服", "3345678901", "qq", "not_official", None),
    ("有个群说是官方客服群，群号738291045，是真的吗", "738291045", "qq", "not_official", None),
    ("Q号 87654321 是客服吗", "87654321", "qq", "not_official", None),
    ("署名示例钱包的短信，号码是10690578123456，是你们发的吗", "10690578123456", "phone", "not_official", None),
    ("+852 5123 4567 打来说是钱包客服，是你们的吗", "+85251234567", "phone", "not_official", None),
    ("+49 151 12345678 说是欧洲客服", "+4915112345678", "phone", "not_official", None),
    ("加我微信那个 wxid_a8s7d6f5 自称客服 能信吗", "wxid_a8s7d6f5", "wechat_id", "not_official", None),
    ("telegram shang you ge ren shuo shi ke fu, ta de hao shi @shili_kefu_888", "shili_kefu_888", "telegram",
     "not_official", None),                           # "shang" after a bare "telegram" is pinyin, not a handle
    ("“示例钱包客服中心”这个公众号是你们的吗", "示例钱包客服中心", "account_name", "not_official", "示例钱包"),
    ("有个叫示例钱包服务中心的公众号给我发消息，是真的吗", "示例钱包服务中心", "account_name", "not_official", "示例钱包"),
    ("公众号「示例钱包」是官方的吗", "示例钱包", "account_name", "official", None),
    ("我加了微信 kefu_8888，他说是客服，是真的吗", "kefu_8888", "wechat_id", "not_official", None),  # added, not mine
    ("我搜到的客服电话 4008886689 是真的吗", "4008886689", "phone", "not_official", "4008886688"),
    ("400-888-668是你门的电话吗", "400888668", "phone", "not_official", "4008886688"),   # a digit short; 门 for 们
    ("那个wallet点example点com是不是你们官网", "wallet.example.com", "domain", "official", None),   # dots read out
    ("wallet dot example dot com 是官网吗", "wallet.example.com", "domain", "official", None),
    ("公众号 示例钱包服务中心 领补贴 要填手机号 是真的吗", "示例钱包服务中心", "account_name", "not_official", "示例钱包"),
    ("公眾號「示例錢包服務中心」是你們開的嗎", "示例錢包服務中心", "account_name", "not_official", "示例钱包"),
])
def test_canonical_verdicts(registry, text, identifier, kind, status, lookalike_of):
    assert verdicts(text, registry) == [
        {"identifier": identifier, "kind": kind, "status": status, "lookalike_of": lookalike_of}]


@pytest.mark.parametrize("text", [
    "验证码958321是你们发的吗",                      # a code, not a 95 number
    "QQ上有人说给我退款 订单号 2024061512 是你们客服吗",  # an order number beside QQ, not the QQ number
    "我的QQ是 88888888 要怎么绑定",                   # the user's own
    "公众号里的客服是真的吗",                          # words about the account's menu, not a name
    "在公众号「客服」菜单里找不到入口",
    "转了1000.00元，版本3.2.1，是真的吗",               # an amount and a version are not phone numbers
])
def test_numbers_that_are_not_contacts(registry, text):
    assert verdicts(text, registry) == []


@pytest.mark.parametrize("written", [
    "KF1003", "kf1003", "KF 1003", "KF-1003", "ＫＦ１００３", "工号1003", "工号：1003", "工号是 KF1003", "客服1003号",
    "1003号客服", "客服工号 1003", "工号幺零零三", "一零零三号客服", "KF一零零三",
])
def test_agent_number_forms(registry, written):
    assert [v["identifier"] for v in verdicts(f"{written} 是真的吗", registry)] == ["KF1003"]


@pytest.mark.parametrize("written", [
    "400-888-6688", "400 888 6688", "4008886688", "+86 400 888 6688", "86-4008886688", "0086 400-888-6688",
    "４００－８８８－６６８８", "400\u200b888\u200b6688", "400.888.6688", "四零零 八八八 六六八八",
])
def test_hotline_forms(registry, written):
    assert verdicts(f"{written} 是官方的吗", registry) == [
        {"identifier": "4008886688", "kind": "phone", "status": "official", "lookalike_of": None}]


@pytest.mark.parametrize("written, canonical", [
    ("138 1234 5678", "13812345678"), ("+86 138-1234-5678", "13812345678"), ("010-12345678", "01012345678"),
    ("(010) 1234 5678", "01012345678"), ("0755-88886666", "075588886666"), ("95188", "95188"),
])
def test_other_phone_forms(registry, written, canonical):
    assert [v["identifier"] for v in verdicts(f"{written} 说是客服", registry)] == [canonical]


@pytest.mark.parametrize("written", ["wallet．example．com", "wallet。example。com", "WALLET.EXAMPLE.COM",
                                     "https://wallet.example.com/login", "wallet.example.com."])
def test_domain_forms_of_the_official_site(registry, written):
    assert verdicts(f"{written} 是官网吗", registry)[0]["status"] == "official"


def test_a_url_user_part_does_not_hide_the_real_host(registry):
    assert verdicts("https://wallet.example.com@evil.cn/login 安全吗", registry) == [
        {"identifier": "evil.cn", "kind": "domain", "status": "not_official", "lookalike_of": "wallet.example.com"}]


@pytest.mark.parametrize("text", [
    "怎么分辨真假客服", "客服让我提供工号核对", "官方客服电话是多少",            # no identifier: the FAQ answers
    "我的手机号13812345678收不到验证码", "我的邮箱 abc@qq.com 收不到邮件",        # the user's own details
    "提现到尾号6688的银行卡要多久", "我转了95000元怎么还没到", "订单号202401011234567查不到",
    "版本号 2.3.1 有什么新功能", "截图 image.png 发不出去", "在 wallet.example.com 上怎么修改密码",
])
def test_not_a_verification_request(verify_check, text):
    assert verify_check(text) is None


def test_agent_lists_and_mixed_identifiers_get_one_reply(verify_check):
    decision = verify_check("工号1003、1004和KF1006，还有 wallet-example.com，哪些是真的")
    assert decision.route == "verify"
    assert [(v["identifier"], v["status"]) for v in decision.verdicts] == [
        ("KF1003", "official"), ("KF1004", "official"), ("KF1006", "not_official"),
        ("wallet-example.com", "not_official")]
    assert decision.reply.count("官方渠道只有") == 1
    assert decision.priority is False


# --- replies ---------------------------------------------------------------------------------------------

def test_not_official_reply_lists_real_channels_and_what_to_do(verify_check):
    reply = verify_check("wallet-example.com 是官网吗").reply
    for fact in ("hotline", "website", "email", "official_account", "anti_fraud_hotline", "police", "brand_name"):
        assert BRAND[fact] in reply, fact
    for advice in ("停止与对方联系", "不要转账", "验证码", "助记词"):
        assert advice in reply
    assert "仿冒 wallet.example.com" in reply
    assert len(reply.encode("utf-8")) < 1500


def test_a_fake_account_name_is_named_and_the_real_account_shown_by_its_name(verify_check):
    reply = verify_check("有个叫“示例钱包服务中心”的公众号，是你们的吗").reply
    assert "公众号「示例钱包服务中心」：不是示例钱包的官方公众号，是仿冒 公众号「示例钱包」" in reply
    assert "官方公众号 示例钱包（demo_wallet_official）" in reply


def test_revoked_reply_says_former_staff_and_the_date(verify_check, registry):
    reply = verify_check("KF0999还在职吗").reply
    assert "前员工" in reply and registry.agents[999].revoked_on in reply and "请勿" in reply


def test_official_reply_confirms_without_the_warning_block(verify_check):
    reply = verify_check("KF1003是你们的客服吗").reply
    assert "在职客服" in reply and "官方渠道只有" not in reply
    assert "验证码" in reply  # still says what staff never ask for


def test_official_hotline_reply_warns_that_caller_id_can_be_spoofed(verify_check):
    assert "伪造" in verify_check("4008886688打来的是真的吗").reply


def test_reply_values_come_from_the_brand_file(tmp_path):
    brand = dict(BRAND, brand_name="测试钱包", hotline="400-111-2222", anti_fraud_hotline="96999")
    (tmp_path / "brand.json").write_text(json.dumps(brand, ensure_ascii=False), encoding="utf-8")
    registry = load_registry(CONFIG / "official_channels.json", tmp_path / "brand.json")
    reply = verifier.reply_text(verifier.check("KF1006是客服吗", registry), registry)
    assert "测试钱包" in reply and "400-111-2222" in reply and "96999" in reply


def test_a_message_full_of_identifiers_still_fits_one_wechat_text(registry):
    text = " ".join(f"wallet-example{i}.com 1381234{i:04d} KF{2000 + i}" for i in range(40)) + " 是真的吗"
    found = verifier.check(text, registry)
    assert len(found) == verifier.MAX_IDENTIFIERS
    assert len(verifier.reply_text(found, registry).encode("utf-8")) <= verifier.MAX_REPLY_BYTES


# --- recording and the report ---------------------------------------------------------------------------

def test_record_verification_counts_non_official_identifiers_and_masks_the_user(storage):
    openid = "oUSER1234567890abcdefghijklmn"
    storage.record_verification(openid, "KF1003", "agent_id", "official")
    for _ in range(3):
        storage.record_verification(openid, "4008886689", "phone", "not_official", "4008886688")
    storage.record_verification("oOTHER234567890abcdefghijklm", "KF0999", "agent_id", "revoked")

    top = storage.top_reported(10)
    assert [(r["identifier"], r["kind"], r["count"]) for r in top] == [
        ("4008886689", "phone", 3), ("KF0999", "agent_id", 1)]
    assert top[0]["status"] == "not_official" and top[0]["lookalike_of"] == "4008886688" and top[0]["last_seen"]
    assert storage.top_reported(1) == top[:1]

    log = storage.recent_verifications(10)
    assert len(log) == 5 and log[-1]["identifier"] == "KF1003"
    stored = b" ".join(storage.redis.lrange(storage.key("verify", "log"), 0, -1))
    assert openid.encode() not in stored and b"oUSE***" in stored


def run_verify_command(argv):
    parser = argparse.ArgumentParser()
    verify_command.register(parser.add_subparsers())
    args = parser.parse_args(["verify", *argv])
    return args.func(args)


def test_report_command_lists_the_most_reported_first(storage, redis_server, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("BOT_REDIS_PREFIX", storage.prefix)
    storage.record_verification("oA", "wallet-example.com", "domain", "not_official", "wallet.example.com")
    for _ in range(2):
        storage.record_verification("oB", "13812345678", "phone", "not_official")

    assert run_verify_command(["report", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["identifier"], r["count"]) for r in rows] == [("13812345678", 2), ("wallet-example.com", 1)]

    assert run_verify_command(["report"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "13812345678" in out[1] and "wallet-example.com" in out[2] and "imitates wallet.example.com" in out[2]


def test_check_and_registry_commands(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("BOT_CHANNELS_FILE", raising=False)
    assert run_verify_command(["check", "KF1006是你们客服吗"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["decision"]["route"] == "verify" and shown["identifiers"] == [{"kind": "agent_id", "value": "KF1006"}]
    assert run_verify_command(["registry"]) == 0
    assert capsys.readouterr().out.startswith("ok:")

    broken = tmp_path / "official_channels.json"
    broken.write_text('{"version": 0}', encoding="utf-8")
    monkeypatch.setenv("BOT_CHANNELS_FILE", str(broken))
    assert run_verify_command(["registry"]) == 1
    assert "invalid" in capsys.readouterr().out


@pytest.mark.parametrize("text, identifier, status", [
    ("我老伴接了个电话，号码是四零零八八八六六八八，说是钱包的，这个号对不对啊", "4008886688", "official"),
    ("demo-wallet-official 这个公众号是你们吗", "demo-wallet-official", "not_official"),
    ("qing wen nimen gongzhonghao shi bu shi demo_wallet_official a", "demo_wallet_official", "official"),
    ("微信搜到两个号 demo_wallet_official 跟 demo_wal1et_official，关注哪个", "demo_wal1et_official", "not_official"),
    ("网址是 wallet 点 example 点 com 斜杠 help 这个是官网吗", "wallet.example.com", "official"),
    ("邮箱是 support 艾特 wallet 点 example 点 com 对吗", "support@wallet.example.com", "official"),
    ("那个客服说他叫 K F 幺零零五 是你们的吗", "KF1005", "official"),
    ("Got a call from 96110, is that Demo Wallet's number?", "96110", "official"),
    ("96110 打了我3次 是示例钱包的吗", "96110", "official"),
    ("有个号叫 示例钱包官方客服 天天给我推消息 是你们吗", "示例钱包官方客服", "not_official"),
    ("gongzhonghao jiao 示例钱包福利社 shi guanfang de ma", "示例钱包福利社", "not_official"),
    ("搜到两个号 示例钱包 和 示例钱包理赔中心 哪个是真的", "示例钱包", "official"),
    ("搜到两个号 示例钱包 和 示例钱包理赔中心 哪个是真的", "示例钱包理赔中心", "not_official"),
    ("示列钱包客服 这个公众号是你们的吗", "示列钱包客服", "not_official"),             # one character off
    ("400/888/6688 是客服吗", "4008886688", "official"),                                # slashes between groups
    ("Q:2851230098 是你们客服吗", "2851230098", "not_official"),                         # "Q:" for QQ
    ("这个号码 0 2 1 - 6 2 3 4 5 6 7 8 打电话说是钱包公司的，是真的吗", "02162345678", "not_official"),
    ("工號#1002 這個客服是真的嗎", "KF1002", "official"),                                  # traditional 工號
    ("我妈接到4008886688的电话，这个是官放电话码", "4008886688", "official"),              # 官放 for 官方
    ("「示例錢包官方服務號」是你們的嗎", "示例錢包官方服務號", "not_official"),           # quoted, as typed
    ("就是那个网站wallet杠example点com是不是你们的", "wallet-example.com", "not_official"),  # 杠 read out
    ("他说他是客服一零零五号，是真的吗", "KF1005", "official"),                          # 客服…号 read out
    ("有个公众号叫示列钱包，列车的列，是你们吗？", "示列钱包", "not_official"),          # not at the start
    ("搜到好几个公众号，有一个叫 示例钱包 的，是这个吧？", "示例钱包", "official"),       # ours, named alone
    ("群里有人发 示例钱包.com 说是官网？", "示例钱包.com", "not_official"),               # a host in Chinese
    ("http://示例钱包.中国/login 是你们的吗", "示例钱包.中国", "not_official"),
    ("help.wallet.example.com:443/#/faq", "help.wallet.example.com", "official"),         # pasted with port and path
    ("有个号叫“示例钱包🎁”，是官方吗", "示例钱包🎁", "not_official"),                    # emoji in the quoted name
    ("A contact +85261234567 claims to be your support, do you have a HK number?", "+85261234567", "not_official"),
])
def test_questions_without_cue_words_still_verify(registry, text, identifier, status):
    assert {"identifier": identifier, "status": status} in [
        {"identifier": v["identifier"], "status": v["status"]} for v in verdicts(text, registry)]


@pytest.mark.parametrize("text", [
    "我爸让我记一下示例钱包的官方客服电话，我翻了公众号也没找到，你们电话多少",   # the brand in a sentence
    "示例钱包公众号怎么找客服",
    "转账给13812345678是免费的吗",
    "之前在百度搜“示例钱包客服”，出来好几个不同的电话，到底哪个能打",   # a search in quotes, not an account
    "我在微信搜“示例钱包”，出来好几个号，哪个是你们",                  # our name searched for
])
def test_the_brand_or_a_number_in_a_question_is_not_a_contact_to_check(registry, text):
    assert verifier.check(text, registry) == []
