"""User-facing wording shared by several handlers, filled from the brand facts."""
from __future__ import annotations


def capabilities(brand: dict) -> str:
    return (
        "我可以帮您：\n"
        "· 解答钱包问题：注册、绑卡、支付/提现失败、账户冻结、退款等\n"
        "· 核验客服真假：把对方的工号、电话、网址或微信号发给我\n"
        "· 转人工客服：回复“人工”\n"
        f"官方热线 {brand['hotline']}（{brand['service_hours']}）。"
    )


def welcome(brand: dict) -> str:
    return (
        f"您好，欢迎关注{brand['brand_name']}！我是智能客服，直接发文字问我就好。\n\n"
        + capabilities(brand)
        + "\n\n提醒：官方人员绝不会索要验证码、密码或助记词，也不会让您转账到“安全账户”。"
    )


def media_not_understood(brand: dict, what: str) -> str:
    return f"收到您的{what}，不过我目前只能读懂文字，麻烦用一句话描述您的问题～\n\n" + capabilities(brand)
