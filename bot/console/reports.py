"""The numbers the console shows, worked out from the per-day counters (plain Python).

`daily_rows` turns `bot.counters.read_days` into one row per day (the CSV
export writes the same rows); `route_mix`, `top_faq` and `agent_days` sum or
split them for the charts and tables.
"""
from __future__ import annotations

import csv
import io
from collections import Counter

from bot.counters import shown_day

ROUTE_NAMES = {
    "faq": "问答", "clarify": "请用户选择", "fallback": "没答上", "greeting": "寒暄", "verify": "核验工号",
    "scam_alert": "诈骗警报", "handoff": "转人工", "handoff_queued": "转人工（排队）",
    "handoff_closed": "转人工（下班）", "with_agent": "客服接待中", "ticket": "留言工单", "rating": "评价",
    "rate_limited": "发太快", "busy": "繁忙", "error": "出错", "welcome": "关注欢迎", "click": "菜单",
    "kf_session": "客服会话事件", "over_budget": "超时补发",
}
#: Columns of a day row (and of the CSV), with their headers.
COLUMNS = (
    ("day", "日期"), ("pushes", "推送总数"), ("asked", "用户提问"), ("faq", "问答命中"), ("clarify", "请用户选择"),
    ("fallback", "没答上"), ("fallback_rate", "没答上比例"), ("handoffs", "转人工"), ("waits", "接入次数"),
    ("avg_wait", "平均等待（秒）"), ("scam_alerts", "诈骗警报"), ("reported", "举报假冒联系方式"),
    ("tickets", "留言工单"), ("ratings", "评价数"), ("csat", "平均满意度"),
)


def _sum_prefix(counts: dict[str, int], prefix: str) -> int:
    return sum(v for k, v in counts.items() if k.startswith(prefix))


def day_row(day: str, counts: dict[str, int]) -> dict:
    asked = _sum_prefix(counts, "asked:")
    ratings = sum(v for k, v in counts.items() if k.startswith("agent:") and k.endswith(":ratings"))
    rating_total = sum(v for k, v in counts.items() if k.startswith("agent:") and k.endswith(":rating_total"))
    waits = counts.get("waits", 0)
    return {
        "day": shown_day(day).isoformat(), "pushes": _sum_prefix(counts, "route:"), "asked": asked,
        "faq": counts.get("asked:faq", 0), "clarify": counts.get("asked:clarify", 0),
        "fallback": counts.get("asked:fallback", 0),
        "fallback_rate": round(counts.get("asked:fallback", 0) / asked, 4) if asked else None,
        "handoffs": counts.get("asked:handoff", 0), "waits": waits,
        "avg_wait": round(counts.get("wait_total", 0) / waits, 1) if waits else None,
        "scam_alerts": counts.get("asked:scam_alert", 0), "reported": counts.get("reported", 0),
        "tickets": counts.get("route:ticket", 0), "ratings": ratings,
        "csat": round(rating_total / ratings, 2) if ratings else None,
    }


def daily_rows(days: dict[str, dict[str, int]]) -> list[dict]:
    return [day_row(day, counts) for day, counts in days.items()]


def totals(rows: list[dict], days: dict[str, dict[str, int]]) -> dict:
    """The period as one row (rates and averages over the whole period)."""
    merged: Counter = Counter()
    for counts in days.values():
        merged.update(counts)
    row = day_row(next(iter(days), "19700101"), dict(merged))
    row["day"] = f"{rows[0]['day']} – {rows[-1]['day']}" if rows else ""
    return row


def route_mix(days: dict[str, dict[str, int]], prefix: str = "route:") -> list[tuple[str, int]]:
    merged: Counter = Counter()
    for counts in days.values():
        merged.update({k[len(prefix):]: v for k, v in counts.items() if k.startswith(prefix)})
    return merged.most_common()


def top_faq(days: dict[str, dict[str, int]], n: int = 10) -> list[tuple[str, int]]:
    return route_mix(days, "faq:")[:n]


def agent_days(days: dict[str, dict[str, int]]) -> dict[str, dict[str, dict[str, int]]]:
    """account -> day -> {sessions, waits, wait_total, ratings, rating_total}."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for day, counts in days.items():
        for key, value in counts.items():
            if not key.startswith("agent:"):
                continue
            account, _, name = key[len("agent:"):].rpartition(":")
            out.setdefault(account, {d: {} for d in days})[day][name] = value
    return out


def to_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([title for _, title in COLUMNS])
    for row in rows:
        writer.writerow(["" if row[name] is None else row[name] for name, _ in COLUMNS])
    return "\ufeff" + buffer.getvalue()  # the BOM makes Excel read it as UTF-8
