"""Every Redis key the bot uses, and the only module that names one.

All keys start with one prefix (``BOT_REDIS_PREFIX``, default ``wxbot``).

=================================  ==========  ===============================================
key                                TTL         what
=================================  ==========  ===============================================
``{p}:nonce:{nonce}``              2×window    nonce of an accepted push (replay refusal)
``{p}:reply:{dedupe}``             120 s       reply to a push (``pending`` while handled),
                                               so WeChat's retries get the identical answer
``{p}:conv:{openid}``              600 s       dialogue state (clarification choices,
                                               fallbacks in a row), JSON
``{p}:kf:{openid}``                1800 s      agent session state: waiting / active, agent,
                                               since (WeChat stops forwarding after 30 min)
``{p}:unmatched``                  none        sorted set: masked unmatched text -> count
``{p}:stats:handled``              none        hash: route -> pushes handled (each push once)
``{p}:priority:{openid}``          1800 s      a scam is in progress: a human should look first
``{p}:rate:{openid}``              60 s        sorted set: this user's messages admitted in the
                                               last 60 s (a sliding window: member push, score ms)
``{p}:rate:{openid}:notice``       ≤ 60 s      ms until which the user was told to slow down
``{p}:rate:all:{second}``          5 s         messages from everyone in one second
``{p}:wechatpy:{appid}_access_token``  expires_in-300  the shared WeChat access token
``{p}:token-lock``                 10 s        one process at a time fetches the token
``{p}:undelivered``                30 days     list of customer-service messages WeChat refused
                                               for good (45015 window closed, 45047 quota)
``rq:…`` (queue BOT_QUEUE_NAME)     RQ's own    the outbound job queue (RQ names these keys)
``{p}:verify:log``                 none        list, newest first, capped at 5000: JSON of each
                                               verification (identifier, kind, status,
                                               lookalike_of, masked openid, at)
``{p}:verify:reported``            none        sorted set: ``kind:identifier`` of non-official
                                               contacts (not_official, revoked) -> reports
``{p}:verify:last``                none        hash: ``kind:identifier`` -> JSON of the latest
                                               verdict on it (status, lookalike_of, at)
``{p}:agents``                     30 s        JSON list of online agents with their session
                                               counts (refreshed by the queue worker)
``{p}:agents:refresh``             interval    one refresher at a time across hosts
``{p}:handoff:waiting``            none        sorted set: openid -> queue order (priority first)
``{p}:handoff:active``             none        sorted set: openid -> session start
``{p}:history:{openid}``           7 days      list, newest first (30): what the user said, the
                                               route, FAQ, verdicts — context for the agent
``{p}:budget:{openid}``            48 h        hash: customer-service messages left in the
                                               window a user message (5/48 h) or a click or
                                               subscribe (3/1 min) opened
``{p}:ticket-seq``                 none        ticket number counter
``{p}:tickets``                    none        stream of every ticket created (the record)
``{p}:ticket:{number}``            90 days     hash: ticket status, openid, text, times
``{p}:tickets:open``               none        sorted set: open ticket numbers (priority first)
``{p}:pickup:missed``              1800 s      sorted set: users whose pickup timed out with no
                                               agent online -> when (told when one comes online)
``{p}:agentstats:{account}``       none        hash: sessions, wait_total, ratings
``{p}:ratings``                    none        stream: every satisfaction rating
``{p}:mailbox:{openid}``           1 day       sorted set: calls that reach the user (JSON), by
                                               decision time, sent oldest first (bot.jobs)
``{p}:mailbox:{openid}:lock``      60 s        one worker at a time sends a user's calls
``{p}:mailbox:filed:{job}``        1 day       a job's call was filed (its retries do not refile)
``{p}:day:…``, ``{p}:console:…``   see         per-day counters and console logins: the
                                   bot.counters  key functions live in bot/counters.py
=================================  ==========  ===============================================

Methods raise ``redis.RedisError`` when Redis is unreachable; the endpoint
decides how to degrade.

Lua scripts are registered once (redis-py ``Script``) and run with ``EVALSHA``;
a server that does not know one (restarted, failed over) answers NOSCRIPT and
the script is loaded and run again, also inside a pipeline (`Storage.send`).
"""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields

import redis

from bot.decision import Conversation


@dataclass(frozen=True)
class Admission:
    """What Redis said about a push, in one round trip (see Storage.admit_push)."""
    nonce_new: bool = True
    claimed: bool = True
    #: (this user's messages this minute, everyone's this second), when counted.
    counts: tuple[int, int] | None = None
    #: (Conversation, agent session or None), when asked for (see Storage.load_user).
    user: tuple | None = None

PENDING = b"pending"
#: Fields of the dialogue state as stored (read once: the state is saved on every text).
_CONVERSATION_FIELDS = tuple(f.name for f in fields(Conversation))
#: The sliding window of the per-user rate limit.
RATE_WINDOW_MS = 60_000
REPLY_TTL = 120
CONVERSATION_TTL = 600
KF_SESSION_TTL = 1800
TOKEN_LOCK_TTL = 10
UNDELIVERED_TTL = 30 * 86400


class Storage:
    def __init__(self, client: redis.Redis, prefix: str = "wxbot"):
        self.redis = client
        self.prefix = prefix
        scripts = [client.register_script(source) for source in
                   (self._ADMIT, self._FINISH, self._SPEND, self._MAILBOX_ADD, self._LOCK, self._UNLOCK)]
        self._admit, self._finish, self._spend, self._mailbox_add, self._lock, self._unlock = scripts
        self._scripts = {s.sha: s for s in scripts}

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @contextmanager
    def _pipeline(self, pipe=None):
        """`pipe` to add commands to, or a new pipeline sent when the block ends."""
        if pipe is not None:
            yield pipe
            return
        with self.redis.pipeline(transaction=False) as own:
            yield own
            self.send(own)

    def send(self, pipe) -> list:
        """Execute a pipeline; a registered script the server did not know (NOSCRIPT) is loaded
        and run again on its own, and nothing else in the pipeline runs twice."""
        stack = [args for args, _options in pipe.command_stack]
        results = pipe.execute(raise_on_error=False)
        for n, (args, result) in enumerate(zip(stack, results)):
            if isinstance(result, redis.exceptions.NoScriptError) and args[1] in self._scripts:
                numkeys = int(args[2])
                results[n] = result = self._scripts[args[1]](keys=args[3:3 + numkeys], args=args[3 + numkeys:])
            if isinstance(result, Exception):
                raise result
        return results

    def _run(self, script, keys, args, pipe=None):
        """Run a registered script now, or add it to `pipe` (plain EVALSHA: `send` handles NOSCRIPT)."""
        if pipe is None:
            return script(keys=keys, args=args)
        return pipe.evalsha(script.sha, len(keys), *keys, *args)

    def apply(self, writes, pipe=None) -> None:
        """Run deferred writes (callables taking a pipeline, see handlers.Context.write) in one round trip."""
        with self._pipeline(pipe) as p:
            for write in writes:
                write(p)

    # --- health -------------------------------------------------------------------------
    def ping(self) -> bool:
        return bool(self.redis.ping())

    # --- one handling per push, identical answers to retries -------------------------------
    def release_message(self, dedupe_key: str) -> None:
        """Forget a claim whose handling failed, so a retry can try again."""
        self.redis.delete(self.key("reply", dedupe_key))

    def get_reply(self, dedupe_key: str) -> tuple[bytes, str] | None | bytes:
        """The stored (body, content_type); PENDING while the first copy is handled; None if unknown."""
        raw = self.redis.get(self.key("reply", dedupe_key))
        if raw is None or raw == PENDING:
            return raw
        if raw.startswith(b"{"):  # stored by a version before this one (kept 120 s at most)
            data = json.loads(raw)
            return data["body"].encode("utf-8"), data["ct"]
        content_type, _, body = raw.partition(b"\n")
        return body, content_type.decode()

    def wait_reply(self, dedupe_key: str, timeout: float, poll: float = 0.02) -> tuple[bytes, str] | None:
        """Wait (bounded) for the reply the first copy of a push is producing."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.get_reply(dedupe_key)
            if isinstance(found, tuple):
                return found
            if found is None or time.monotonic() >= deadline:
                return None
            time.sleep(poll)

    # --- dialogue state ---------------------------------------------------------------------
    def load_conversation(self, openid: str) -> Conversation:
        return self._conversation(self.redis.get(self.key("conv", openid)))

    @staticmethod
    def _conversation(raw) -> Conversation:
        if not raw:
            return Conversation()
        data = json.loads(raw)
        data["pending_choices"] = tuple(data.get("pending_choices", ()))
        # a field a newer release stored is left out, so that a rolling deploy can read it back
        return Conversation(**{name: value for name, value in data.items() if name in _CONVERSATION_FIELDS})

    @staticmethod
    def _conversation_json(conversation: Conversation) -> str:
        return json.dumps({name: getattr(conversation, name) for name in _CONVERSATION_FIELDS}, ensure_ascii=False)

    def save_conversation(self, openid: str, conversation: Conversation, ttl: int = CONVERSATION_TTL) -> None:
        self.redis.set(self.key("conv", openid), self._conversation_json(conversation), ex=ttl)

    # --- agent sessions (kf) ------------------------------------------------------------------
    def set_kf_session(self, openid: str, state: str, account: str = "", ttl: int = KF_SESSION_TTL) -> None:
        key = self.key("kf", openid)
        with self.redis.pipeline() as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={"state": state, "account": account or "", "since": int(time.time())})
            pipe.expire(key, ttl)
            pipe.execute()

    def get_kf_session(self, openid: str) -> dict[str, str] | None:
        data = self.redis.hgetall(self.key("kf", openid))
        if not data:
            return None
        return {k.decode(): v.decode() for k, v in data.items()}

    def mark_kf_session(self, openid: str, **fields) -> None:
        """Set fields of the user's agent session (state, account, the silent-agent marks), if it exists."""
        key = self.key("kf", openid)
        if self.redis.exists(key):
            self.redis.hset(key, mapping={k: str(v) for k, v in fields.items()})

    def touch_kf_session(self, openid: str, ttl: int = KF_SESSION_TTL, pipe=None) -> None:
        (pipe or self.redis).expire(self.key("kf", openid), ttl)

    def clear_all(self, batch: int = 500) -> int:
        """Delete every key under the prefix (the demo's --reset); returns how many."""
        pattern = "".join("\\" + c if c in "*?[]\\" else c for c in self.prefix) + ":*"
        deleted = 0
        keys = []
        for key in self.redis.scan_iter(match=pattern, count=batch):
            keys.append(key)
            if len(keys) >= batch:
                deleted += self.redis.unlink(*keys)
                keys.clear()
        if keys:
            deleted += self.redis.unlink(*keys)
        return deleted

    # --- a user's whole state (unsubscribe) -----------------------------------------------------
    def clear_user(self, openid: str) -> None:
        with self.redis.pipeline() as pipe:
            pipe.delete(self.key("conv", openid), self.key("kf", openid), self.key("priority", openid),
                        self.key("budget", openid))
            pipe.zrem(self.key("handoff", "waiting"), openid)
            pipe.zrem(self.key("handoff", "active"), openid)
            pipe.execute()

    # --- one round trip in, one out, per push (the request path's hot spots) -------------------
    # One script, so a push costs Redis one round trip: the claim and the nonce are taken together
    # (a replay never holds a claim), and only a claimed push is counted, opens the allowance or
    # reads the user (WeChat's retries are the same message, not another one).
    # The per-user limit is a sliding window: the times of the user's admitted messages in the last
    # minute (a sorted set, at most `limit` members), so no burst across a minute boundary gets a
    # second allowance. A message over it is answered once ("slow down", limit + 1) until the window
    # has room again, silently (limit + 2) otherwise. The caller's clock (ARGV[11], ms) is the
    # script's: the tests drive it.
    _ADMIT = """
    local nonce_new = redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[1]) and 1 or 0
    local claimed = 0
    if nonce_new == 1 and redis.call('SET', KEYS[2], ARGV[3], 'NX', 'EX', ARGV[2]) then claimed = 1 end
    local user, everyone, conversation, session = 0, 0, false, {}
    if claimed == 1 then
        if ARGV[4] == '1' then
            local now, limit, window = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
            redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
            user = redis.call('ZCARD', KEYS[3])
            if user < limit then
                redis.call('ZADD', KEYS[3], now, KEYS[2])
                redis.call('PEXPIRE', KEYS[3], window)
                user = user + 1
            elseif now >= tonumber(redis.call('GET', KEYS[8]) or '0') then
                local room_at = tonumber(redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')[2]) + window
                redis.call('SET', KEYS[8], room_at, 'PX', math.max(1, room_at - now))
                user = limit + 1
            else
                user = limit + 2
            end
            everyone = redis.call('INCR', KEYS[4])
            if everyone == 1 then redis.call('EXPIRE', KEYS[4], 5) end
        end
        if ARGV[5] ~= '' then
            redis.call('HSET', KEYS[5], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
            redis.call('EXPIRE', KEYS[5], ARGV[9])
        end
        if ARGV[10] == '1' then
            conversation = redis.call('GET', KEYS[6])
            session = redis.call('HGETALL', KEYS[7])
        end
    end
    return {nonce_new, claimed, user, everyone, conversation, session}
    """

    def admit_push(self, *, nonce: str, nonce_ttl: int, dedupe_key: str, claim_ttl: int, openid: str,
                   count: bool, allowance: str | None, now: float | None = None,
                   load_user: bool = False, user_limit: int = 30) -> Admission:
        """Remember the nonce, claim the push, count it for the rate limits (`user_limit` messages
        from one user in any minute), open the customer-service allowance it gives and
        (`load_user`) read the user's state, in one command."""
        now = now if now is not None else time.time()
        seconds = int(now)
        budget = [*self._budget_fields(allowance, seconds).items()] if allowance else [("", ""), ("", "")]
        rate = self.key("rate", openid)
        nonce_new, claimed, user, everyone, conversation, session = self._admit(
            keys=(self.key("nonce", nonce), self.key("reply", dedupe_key), rate,
                  self.key("rate", "all", str(seconds)), self.key("budget", openid), self.key("conv", openid),
                  self.key("kf", openid), rate + ":notice"),
            args=(max(1, nonce_ttl), claim_ttl, PENDING, int(count), *budget[0], *budget[1], self.BUDGET_TTL,
                  int(load_user), int(now * 1000), user_limit, RATE_WINDOW_MS))
        counts = (user, everyone) if count and claimed else None
        state = None
        if load_user and claimed:
            state = self._user_of(conversation, dict(zip(session[::2], session[1::2])))
        return Admission(bool(nonce_new), bool(claimed), counts, state)

    # The reply for WeChat's retries and the push counted under its route (KEYS 1-2, when KEYS[1]
    # is not ''), and a text's turn: the dialogue state and the entry in the agent's history
    # (KEYS 3-4, when given). One script, so the end of a push is one command, not a pipeline.
    _FINISH = """
    if KEYS[1] ~= '' then
        redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
        redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
    end
    if KEYS[3] then
        redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
        redis.call('LPUSH', KEYS[4], ARGV[6])
        redis.call('LTRIM', KEYS[4], 0, ARGV[7] - 1)
        redis.call('EXPIRE', KEYS[4], ARGV[8])
    end
    """

    def finish_push(self, dedupe_key: str, body: bytes, content_type: str, ttl: int, route: str,
                    writes=(), turn: tuple | None = None) -> None:
        """Keep the reply for WeChat's retries, count the push under its route, save the text's
        `turn` (openid, Conversation, history entry) and send the handler's other deferred writes,
        in one round trip (one command when there are no other writes)."""
        keys = [self.key("reply", dedupe_key), self.key("stats", "handled")]
        args = [content_type.encode() + b"\n" + body, ttl, route]
        if turn is not None:
            self._add_turn(keys, args, *turn)
        if not writes:
            self._finish(keys=keys, args=args)
            return
        with self._pipeline() as pipe:
            self._run(self._finish, keys, args, pipe)
            self.apply(writes, pipe)

    def load_user(self, openid: str) -> tuple[Conversation, dict[str, str] | None]:
        """The user's dialogue state and agent session, in one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            self._read_user(pipe, openid)
            return self._user_of(*pipe.execute())

    def _read_user(self, pipe, openid: str) -> None:
        pipe.get(self.key("conv", openid))
        pipe.hgetall(self.key("kf", openid))

    def _user_of(self, raw, session) -> tuple[Conversation, dict[str, str] | None]:
        return self._conversation(raw), ({k.decode(): v.decode() for k, v in session.items()} or None)

    def save_turn(self, openid: str, conversation: Conversation, entry: dict, pipe=None) -> None:
        """The dialogue state after a message, and the message in the agent's history (one command)."""
        keys, args = ["", ""], ["", "", ""]
        self._add_turn(keys, args, openid, conversation, entry)
        self._run(self._finish, keys, args, pipe)

    def _add_turn(self, keys: list, args: list, openid: str, conversation: Conversation, entry: dict) -> None:
        keys += (self.key("conv", openid), self.key("history", openid))
        args += (self._conversation_json(conversation), CONVERSATION_TTL,
                 json.dumps({"at": int(time.time()), **entry}, ensure_ascii=False), self.HISTORY_LEN,
                 self.HISTORY_TTL)

    # --- counters and marks ----------------------------------------------------------------------
    def handled_counts(self) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.redis.hgetall(self.key("stats", "handled")).items()}

    def mark_priority(self, openid: str, reason: str, ttl: int = KF_SESSION_TTL, pipe=None) -> None:
        (pipe or self.redis).set(self.key("priority", openid), reason, ex=ttl)

    def priority_reason(self, openid: str) -> str | None:
        raw = self.redis.get(self.key("priority", openid))
        return raw.decode("utf-8") if raw else None

    # --- unmatched messages, for staff -----------------------------------------------------------
    def count_unmatched(self, masked_text: str, pipe=None) -> None:
        (pipe or self.redis).zincrby(self.key("unmatched"), 1, masked_text[:200])

    def forget_unmatched(self, masked_text: str) -> None:
        """Staff answered it (the console added it to an entry)."""
        self.redis.zrem(self.key("unmatched"), masked_text[:200])

    def top_unmatched(self, n: int = 20) -> list[tuple[str, int]]:
        rows = self.redis.zrevrange(self.key("unmatched"), 0, max(0, n - 1), withscores=True)
        return [(text.decode("utf-8"), int(score)) for text, score in rows]

    # --- customer-service messages WeChat refused for good ------------------------------------
    def record_undelivered(self, openid: str, purpose: str, message: dict, reason: str) -> None:
        entry = json.dumps({"openid": openid, "purpose": purpose, "message": message, "reason": reason,
                            "at": int(time.time())}, ensure_ascii=False)
        key = self.key("undelivered")
        with self.redis.pipeline() as pipe:
            pipe.lpush(key, entry)
            pipe.ltrim(key, 0, 9999)
            pipe.expire(key, UNDELIVERED_TTL)
            pipe.execute()

    def undelivered(self, n: int = 100) -> list[dict]:
        return [json.loads(raw) for raw in self.redis.lrange(self.key("undelivered"), 0, n - 1)]

    # --- the WeChat access token ---------------------------------------------------------------
    def token_prefix(self) -> str:
        """Prefix for wechatpy's RedisStorage: the token lives at {prefix}:{appid}_access_token."""
        return self.key("wechatpy")

    def acquire_token_lock(self, ttl: int = TOKEN_LOCK_TTL) -> bool:
        return bool(self.redis.set(self.key("token-lock"), 1, nx=True, ex=ttl))

    def release_token_lock(self) -> None:
        self.redis.delete(self.key("token-lock"))

    # --- verification of claimed official contacts (issue 4; bot.safety, `verify report`) --------
    VERIFY_LOG_MAX = 5000

    def record_verification(self, openid: str, identifier: str, kind: str, status: str,
                            lookalike_of: str | None = None, pipe=None) -> None:
        """Remember one verdict; non-official identifiers are counted for `verify report`."""
        from bot.masking import mask_openid

        now = int(time.time())
        entry = {"identifier": identifier, "kind": kind, "status": status, "lookalike_of": lookalike_of,
                 "user": mask_openid(openid), "at": now}
        member = f"{kind}:{identifier}"
        with self._pipeline(pipe) as p:
            p.lpush(self.key("verify", "log"), json.dumps(entry, ensure_ascii=False))
            p.ltrim(self.key("verify", "log"), 0, self.VERIFY_LOG_MAX - 1)
            if status != "official":
                p.zincrby(self.key("verify", "reported"), 1, member)
                last = {"status": status, "lookalike_of": lookalike_of, "at": now}
                p.hset(self.key("verify", "last"), member, json.dumps(last, ensure_ascii=False))

    def top_reported(self, n: int = 20) -> list[dict]:
        """Non-official identifiers users asked about, most reported first."""
        rows = self.redis.zrevrange(self.key("verify", "reported"), 0, max(0, n - 1), withscores=True)
        if not rows:
            return []
        members = [member.decode("utf-8") for member, _ in rows]
        lasts = self.redis.hmget(self.key("verify", "last"), members)
        out = []
        for member, (_, count), last in zip(members, rows, lasts):
            kind, _, identifier = member.partition(":")
            info = json.loads(last) if last else {}
            out.append({"identifier": identifier, "kind": kind, "count": int(count),
                        "status": info.get("status"), "lookalike_of": info.get("lookalike_of"),
                        "last_seen": info.get("at")})
        return out

    def recent_verifications(self, n: int = 50) -> list[dict]:
        return [json.loads(raw) for raw in self.redis.lrange(self.key("verify", "log"), 0, max(0, n - 1))]

    # --- handoff to live agents (issue 5) --------------------------------------------------------
    AGENTS_TTL = 30
    HISTORY_LEN = 30
    HISTORY_TTL = 7 * 86400
    TICKET_TTL = 90 * 86400
    PRIORITY_BOOST = 10**10  # subtracted from the score so priority entries sort first

    def set_agents(self, agents: list[dict]) -> None:
        self.redis.set(self.key("agents"), json.dumps(agents, ensure_ascii=False), ex=self.AGENTS_TTL)

    def cached_agents(self) -> list[dict] | None:
        """Online agents as last refreshed; None when no refresh is recent (worker down)."""
        raw = self.redis.get(self.key("agents"))
        return json.loads(raw) if raw else None

    def claim_agent_refresh(self, interval: float) -> bool:
        return bool(self.redis.set(self.key("agents", "refresh"), 1, nx=True, px=int(interval * 1000)))

    def start_waiting(self, openid: str, account: str = "", priority: bool = False, reason: str = "") -> int:
        """Put the user in the handoff queue; returns the waiting-since time that identifies this wait."""
        now = int(time.time())
        score = now - self.PRIORITY_BOOST if priority else now
        with self.redis.pipeline() as pipe:
            pipe.delete(self.key("kf", openid))
            pipe.hset(self.key("kf", openid), mapping={"state": "waiting", "account": account or "",
                                                        "since": int(now), "waiting_since": int(now),
                                                        "priority": int(priority), "reason": reason})
            pipe.expire(self.key("kf", openid), KF_SESSION_TTL)
            pipe.zadd(self.key("handoff", "waiting"), {openid: score})
            pipe.zrem(self.key("handoff", "active"), openid)
            pipe.execute()
        return now

    def session_started(self, openid: str, account: str) -> int | None:
        """Record that `account` took the user; returns how long they waited (s), if known.
        The session's `since` becomes now (get_kf_session tells it)."""
        now = int(time.time())
        session = self.get_kf_session(openid) or {}
        waited = now - int(session["waiting_since"]) if session.get("waiting_since") else None
        mapping = {"state": "active", "account": account, "since": now}
        with self.redis.pipeline() as pipe:
            pipe.hset(self.key("kf", openid), mapping=mapping)
            pipe.expire(self.key("kf", openid), KF_SESSION_TTL)
            pipe.zrem(self.key("handoff", "waiting"), openid)
            pipe.zadd(self.key("handoff", "active"), {openid: now})
            pipe.hincrby(self.key("agentstats", account), "sessions", 1)
            if waited is not None:
                pipe.hincrby(self.key("agentstats", account), "wait_total", waited)
                pipe.hincrby(self.key("agentstats", account), "waits", 1)
            pipe.execute()
        return waited

    def session_ended(self, openid: str) -> dict | None:
        """Forget the user's agent session (closed, or the user left); returns what it was."""
        session = self.get_kf_session(openid)
        with self.redis.pipeline() as pipe:
            pipe.delete(self.key("kf", openid))
            pipe.zrem(self.key("handoff", "waiting"), openid)
            pipe.zrem(self.key("handoff", "active"), openid)
            pipe.execute()
        return session

    def handoff_lists(self) -> dict[str, list[tuple[str, float]]]:
        """Waiting (queue order) and active conversations; entries whose state expired are dropped."""
        out = {}
        for name in ("waiting", "active"):
            rows = self.redis.zrange(self.key("handoff", name), 0, -1, withscores=True)
            live = []
            for openid, score in rows:
                openid = openid.decode()
                if self.redis.exists(self.key("kf", openid)):
                    live.append((openid, score % self.PRIORITY_BOOST if score < 0 else score))
                else:
                    self.redis.zrem(self.key("handoff", name), openid)
            out[name] = live
        return out

    def history(self, openid: str, n: int = 30) -> list[dict]:
        return [json.loads(raw) for raw in self.redis.lrange(self.key("history", openid), 0, n - 1)]

    # WeChat's allowance of customer-service messages: a user message opens 5 within 48 h, a click,
    # subscribe or scan opens 3 within a minute; each is replaced when opened again.
    ALLOWANCES = {"message": (48 * 3600, 5), "event": (60, 3)}
    _SPEND = """
    local best, best_until = nil, nil
    for _, kind in ipairs({'message', 'event'}) do
        local until_ = tonumber(redis.call('HGET', KEYS[1], kind .. ':until') or '0')
        local left = tonumber(redis.call('HGET', KEYS[1], kind .. ':left') or '0')
        if until_ > tonumber(ARGV[1]) and left > tonumber(ARGV[2]) then
            if best == nil or until_ < best_until then best, best_until = kind, until_ end
        end
    end
    if best == nil then return 0 end
    redis.call('HINCRBY', KEYS[1], best .. ':left', -1)
    return 1
    """

    def open_budget(self, openid: str, kind: str) -> None:
        with self.redis.pipeline() as pipe:
            self._open_budget(pipe, openid, kind, int(time.time()))
            pipe.execute()

    BUDGET_TTL = ALLOWANCES["message"][0]

    def _budget_fields(self, kind: str, now: int) -> dict:
        seconds, count = self.ALLOWANCES[kind]
        return {f"{kind}:until": now + seconds, f"{kind}:left": count}

    def _open_budget(self, pipe, openid: str, kind: str, now: int) -> None:
        key = self.key("budget", openid)
        pipe.hset(key, mapping=self._budget_fields(kind, now))
        pipe.expire(key, self.BUDGET_TTL)

    def ensure_budget(self, openid: str, kind: str, opened_at: float) -> None:
        """Open `kind`'s allowance as of `opened_at` unless one is recorded (Redis was away then)."""
        seconds, count = self.ALLOWANCES[kind]
        until = int(opened_at) + seconds
        if until <= time.time():
            return
        key = self.key("budget", openid)
        if self.redis.hsetnx(key, f"{kind}:until", until):
            with self.redis.pipeline() as pipe:
                pipe.hset(key, f"{kind}:left", count)
                pipe.expire(key, self.BUDGET_TTL)
                pipe.execute()

    def spend_budget(self, openid: str, keep: int = 0) -> bool:
        """Take one message from the user's allowance, leaving at least `keep` for more urgent ones."""
        return bool(self._spend(keys=(self.key("budget", openid),), args=(int(time.time()), keep)))

    def budget_left(self, openid: str) -> int:
        data = {k.decode(): int(v) for k, v in self.redis.hgetall(self.key("budget", openid)).items()}
        now = time.time()
        return sum(data.get(f"{k}:left", 0) for k in self.ALLOWANCES if data.get(f"{k}:until", 0) > now)

    def create_ticket(self, openid: str, text: str, priority: bool = False, reason: str = "") -> str:
        now = int(time.time())
        number = "T{}{:04d}".format(time.strftime("%y%m%d", time.localtime(now)),
                                    self.redis.incr(self.key("ticket-seq")) % 10000)
        fields = {"number": number, "openid": openid, "text": text[:1000], "created": now,
                  "priority": int(priority), "reason": reason}
        with self.redis.pipeline() as pipe:
            pipe.xadd(self.key("tickets"), fields, maxlen=100000, approximate=True)
            pipe.hset(self.key("ticket", number), mapping={**fields, "status": "open", "updated": now})
            pipe.expire(self.key("ticket", number), self.TICKET_TTL)
            pipe.zadd(self.key("tickets", "open"), {number: now - self.PRIORITY_BOOST if priority else now})
            pipe.execute()
        return number

    def get_ticket(self, number: str) -> dict | None:
        data = self.redis.hgetall(self.key("ticket", number))
        return {k.decode(): v.decode() for k, v in data.items()} if data else None

    def open_tickets(self, n: int = 100) -> list[dict]:
        numbers = [m.decode() for m in self.redis.zrange(self.key("tickets", "open"), 0, n - 1)]
        return [t for t in (self.get_ticket(num) for num in numbers) if t]

    def set_ticket_status(self, number: str, status: str, note: str = "") -> None:
        with self.redis.pipeline() as pipe:
            pipe.hset(self.key("ticket", number), mapping={"status": status, "updated": int(time.time()),
                                                            "note": note})
            if status in ("closed", "replied"):
                pipe.zrem(self.key("tickets", "open"), number)
            pipe.execute()

    def missed_pickup(self, openid: str, ttl: int = KF_SESSION_TTL) -> None:
        """Remember to tell the user when an agent is online (only while they may still be waiting)."""
        with self.redis.pipeline() as pipe:
            pipe.zadd(self.key("pickup", "missed"), {openid: int(time.time())})
            pipe.expire(self.key("pickup", "missed"), ttl)
            pipe.execute()

    def take_missed_pickups(self) -> list[str]:
        """The users whose pickup timed out while nobody was online, once each."""
        with self.redis.pipeline() as pipe:
            pipe.zrange(self.key("pickup", "missed"), 0, -1)
            pipe.delete(self.key("pickup", "missed"))
            members, _ = pipe.execute()
        return [m.decode() for m in members]

    def record_rating(self, openid: str, account: str, score: int, session_since: str = "") -> None:
        with self.redis.pipeline() as pipe:
            pipe.xadd(self.key("ratings"), {"openid": openid, "account": account, "score": score,
                                            "session": session_since, "at": int(time.time())},
                      maxlen=100000, approximate=True)
            pipe.hincrby(self.key("agentstats", account), "rating_total", score)
            pipe.hincrby(self.key("agentstats", account), "ratings", 1)
            pipe.execute()

    def agent_stats(self) -> dict[str, dict[str, int]]:
        out = {}
        for key in self.redis.scan_iter(self.key("agentstats", "*"), count=500):
            account = key.decode()[len(self.key("agentstats", "")):]
            out[account] = {k.decode(): int(v) for k, v in self.redis.hgetall(key).items()}
        return out

    # --- each user's outbound calls, in the order decided (bot.jobs.deliver_in_order) -------------
    MAILBOX_TTL = 86400
    _MAILBOX_ADD = """
    if redis.call('SET', KEYS[2], 1, 'NX', 'EX', ARGV[3]) then
        redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
        redis.call('EXPIRE', KEYS[1], ARGV[3])
    end
    """

    def mailbox_add(self, openid: str, entry: str, decided_at: float) -> None:
        """File `entry` (JSON with an "id") once for its id, even if the job that files it is retried."""
        job = json.loads(entry)["id"]
        self._run(self._mailbox_add, (self.key("mailbox", openid), self.key("mailbox", "filed", job)),
                  (entry, repr(float(decided_at)), self.MAILBOX_TTL))

    def mailbox_head(self, openid: str) -> tuple[str, float] | None:
        rows = self.redis.zrange(self.key("mailbox", openid), 0, 0, withscores=True)
        return (rows[0][0].decode("utf-8"), rows[0][1]) if rows else None

    def mailbox_done(self, openid: str, entry: str) -> None:
        self.redis.zrem(self.key("mailbox", openid), entry)

    # The user's mailbox lock, held by one job. Taken again by the same job: a job whose Redis failed
    # over while it held the lock is retried, and must not wait out the lock it left behind.
    _LOCK = """
    if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
    if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
    return 0
    """
    _UNLOCK = """
    if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
    return 0
    """

    def lock_mailbox(self, openid: str, owner: str, ttl: float) -> bool:
        """Take the user's mailbox lock for `owner` (a job id) for `ttl` s; True if it holds it."""
        return bool(self._run(self._lock, (self.key("mailbox", openid, "lock"),), (owner, int(ttl * 1000))))

    def unlock_mailbox(self, openid: str, owner: str) -> None:
        """Let go of the lock if `owner` still holds it (not one another job took after it expired)."""
        self._run(self._unlock, (self.key("mailbox", openid, "lock"),), (owner,))
