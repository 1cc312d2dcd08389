"""FAQ test support shared by the tests and benchmarks.

* `synthetic_entries` builds a large corpus of plausible wallet FAQs for scale tests.
* `entry` / `write_corpus` write small corpora into temporary directories.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SHIPPED_FAQ = ROOT / "faq_data"
SHIPPED_BRAND = ROOT / "config" / "brand.json"

_OBJECTS = ("银行卡", "信用卡", "零钱", "红包", "优惠券", "积分", "会员", "话费", "水电费", "燃气费", "公交卡",
            "收款码", "付款码", "理财", "基金", "保险", "分期", "发票", "亲情卡", "小程序", "医保卡", "油卡",
            "火车票", "机票", "酒店订单", "外卖订单", "快递费", "游戏点券", "数字人民币", "外币", "港币", "美元",
            "商户号", "子账户", "家庭账户", "储值卡", "礼品卡", "押金", "保证金", "年费", "手续费", "汇款",
            "定期存款", "工资卡", "社保", "公积金", "学费", "房租", "物业费", "停车费")
_SCOPES = ("个人", "企业", "境外")
_ACTIONS = ("充值", "开通", "关闭", "查询", "修改", "绑定", "解绑", "转入", "转出", "领取", "使用", "兑换",
            "到期", "续费", "退订", "申请", "审核", "激活", "升级", "注销", "缴纳", "报销", "冻结", "解冻", "授权")
_PROBLEMS = (("失败怎么办", "失败"), ("在哪里操作", "入口"), ("要多久", "时间"), ("收费吗", "费用"))


def synthetic_entries(n: int, seed: int = 7) -> list[dict]:
    """`n` corpus entries (dicts in the faq_data shape) about made-up but plausible wallet topics."""
    combos = [(scope + obj, action, problem) for obj in _OBJECTS for scope in _SCOPES
              for action in _ACTIONS for problem in _PROBLEMS]
    random.Random(seed).shuffle(combos)
    if n > len(combos):
        raise ValueError(f"at most {len(combos)} synthetic entries")
    entries = []
    for index, (obj, action, (tail, word)) in enumerate(combos[:n]):
        entries.append({
            "id": f"gen_{index:05d}",
            "category": "生成",
            "question": f"{obj}{action}{tail}？",
            "keywords": [f"{obj}{action}{word}"],
            "similar_questions": [f"{action}{obj}{tail}", f"我的{obj}{action}{word}"],
            "answer": f"关于{obj}{action}的{word}问题：请在 App 里打开「{obj}」页面查看说明，或拨打 {{hotline}}。",
        })
    return entries


def entry(faq_id: str, keywords: list[str], **fields) -> dict:
    """A valid corpus entry; `fields` override or add to it."""
    data = {"id": faq_id, "category": "测试", "question": f"{faq_id} 的问题？", "keywords": keywords,
            "answer": f"这是 {faq_id} 的回答，详情请拨打 {{hotline}}。"}
    data.update(fields)
    return data


def write_corpus(directory: Path, files: dict[str, object]) -> Path:
    """Write {file name: JSON-able object or raw str} into `directory`; return it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, indent=2)
        (directory / name).write_text(text, encoding="utf-8")
    return directory
