"""Per-day counters for the staff console, and the console's login-attempt counters.

The request path never spends a round trip on these: `count_push` returns a
deferred write (a function of a pipeline, like `handlers.Context.write`) that
the endpoint sends with the push's reply. What it counts comes from the
handler's `ctx.notes`:

==========================  ===================================================
``route``                   the route the push took (as ``stats:handled``)
``asked``                   what the router decided for a user text (its own
                            route: faq, clarify, fallback, scam_alert, …)
``faq_id``                  the FAQ entry answered
``reported``                non-official contacts among the verdicts
``agent`` + ``waited``      an agent took a user after that many seconds
``rating`` (account, 1-5)   a satisfaction rating
==========================  ===================================================

=====================================  ========  ======================================
key                                    TTL       what
=====================================  ========  ======================================
``{p}:day:{yyyymmdd}``                 90 days   hash: ``route:{r}``, ``asked:{r}``,
                                                 ``faq:{id}``, ``reported``, ``waits``,
                                                 ``wait_total``, ``agent:{account}:{n}``
                                                 (n: sessions, waits, wait_total,
                                                 ratings, rating_total)
``{p}:console:login:{who}:{digest}``   15 min    failed console logins per user / IP
=====================================  ========  ======================================

Days are calendar days in the agents' service-hours timezone.
"""
from __future__ import annotations

import hashlib
import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

KEEP_DAYS = 90
DAY_TTL = KEEP_DAYS * 86400
LOGIN_WINDOW = 15 * 60
AGENT_FIELDS = ("sessions", "waits", "wait_total", "ratings", "rating_total")


def day_of(now: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(now, tz).strftime("%Y%m%d")


def day_key(storage, day: str) -> str:
    return storage.key("day", day)


#: Day keys this process has sent their TTL: EXPIRE goes with a process's first count of a day
#: (whichever process creates the key, its own first write gives it the TTL), then with one count in
#: 64 at random, in case that first pipeline never reached Redis.
_EXPIRING: set[str] = set()
EXPIRE_AGAIN = 1 / 64


def count_push(storage, route: str, notes: dict, now: float, tz: ZoneInfo):
    """The deferred write that counts one handled push under today's hash."""
    key = day_key(storage, day_of(now, tz))
    expire = key not in _EXPIRING or random.random() < EXPIRE_AGAIN
    fields = {f"route:{route}": 1}
    if notes.get("asked"):
        fields[f"asked:{notes['asked']}"] = 1
    if notes.get("faq_id"):
        fields[f"faq:{notes['faq_id']}"] = 1
    if notes.get("reported"):
        fields["reported"] = int(notes["reported"])
    if notes.get("agent"):
        fields[f"agent:{notes['agent']}:sessions"] = 1
        if notes.get("waited") is not None:
            waited = max(0, int(notes["waited"]))
            fields.update({"waits": 1, "wait_total": waited, f"agent:{notes['agent']}:waits": 1,
                           f"agent:{notes['agent']}:wait_total": waited})
    if notes.get("rating"):
        account, score = notes["rating"]
        fields.update({f"agent:{account}:ratings": 1, f"agent:{account}:rating_total": int(score)})

    def write(pipe) -> None:
        for name, amount in fields.items():
            pipe.hincrby(key, name, amount)
        if expire:
            pipe.expire(key, DAY_TTL)
            if len(_EXPIRING) > 8:
                _EXPIRING.clear()
            _EXPIRING.add(key)

    return write


def last_days(n: int, now: float, tz: ZoneInfo) -> list[str]:
    """The last `n` days (oldest first), today included."""
    today = datetime.fromtimestamp(now, tz).date()
    return [(today - timedelta(days=i)).strftime("%Y%m%d") for i in range(n - 1, -1, -1)]


def read_days(storage, days: list[str]) -> dict[str, dict[str, int]]:
    """Each day's counters (an empty dict for a day with none), in one round trip."""
    with storage.redis.pipeline(transaction=False) as pipe:
        for day in days:
            pipe.hgetall(day_key(storage, day))
        rows = pipe.execute()
    return {day: {k.decode(): int(v) for k, v in row.items()} for day, row in zip(days, rows)}


def shown_day(day: str) -> date:
    return datetime.strptime(day, "%Y%m%d").date()


# --- failed console logins -------------------------------------------------------------------

def _login_keys(storage, username: str, address: str) -> list[str]:
    def digest(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]
    return [storage.key("console", "login", "user", digest(username.strip().lower())),
            storage.key("console", "login", "ip", digest(address or "-"))]


def login_blocked(storage, username: str, address: str, limit: int) -> bool:
    """Too many recent failures for this user name or this address."""
    counts = storage.redis.mget(_login_keys(storage, username, address))
    return any(int(c or 0) >= limit for c in counts)


def login_failed(storage, username: str, address: str) -> None:
    with storage.redis.pipeline(transaction=False) as pipe:
        for key in _login_keys(storage, username, address):
            pipe.incr(key)
            pipe.expire(key, LOGIN_WINDOW)
        pipe.execute()


def login_succeeded(storage, username: str) -> None:
    storage.redis.delete(_login_keys(storage, username, "")[0])
