"""A fake WeChat: the real API over HTTP on loopback, and WeChat's user and agent side in-process.

`FakeWeChat` serves the API paths the bot calls (token, stable_token, custom send and typing, kf
accounts and sessions) with the real JSON shapes and error codes (docs/wechat-protocol.md §4-§6),
and plays WeChat towards the bot: user messages and events are pushed to `bot_url` with `Pusher`
in the configured mode, under WeChat's 5 s deadline with its retries, and an active kf session
diverts a user's messages to the agent instead of the bot.

All state sits behind one lock, which is never held while pushing: the bot may call the API while
it handles a push. `clock` drives the API's state (token life, 48 h window and quotas, typing,
session idle time) so tests can move it; push timestamps and CreateTime use the wall clock,
because the bot checks those against its own.

Where the doc is silent the fake picks a real code: an unknown API path answers 48001, the wrong
HTTP method 43001/43002, custom send as an unknown kf_account 65401, an empty text 44004, a missing
media_id 40007, an unknown msgtype 40008. A transfer reply to an event is ignored. Only a
timeout or refused connection is retried; a non-200 or malformed reply, or one addressed to someone
else, is refused at once (BotReplyError, the user sees SERVICE_UNAVAILABLE). kfsession/create
keeps its optional `text` (附加信息, shown to the agent; `session_notes`). msgrecord/getmsglist
serves the agents' chat records: what an agent wrote (opercode 2002) and what the user wrote to
them (2003), by time, paged by msgid; a period over 24 h answers 65417, bad parameters 65416.
Not modelled: IP whitelists, daily quotas, stable_token force-refresh limits, media upload.
"""
from __future__ import annotations

import json
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

from bot.sim.pusher import DEFAULT_ACCOUNT, MODES, PushBuilder, Pusher, ReplyError, xml_field

SERVICE_UNAVAILABLE = "该公众号暂时无法提供服务，请稍后再试"
TOKEN_LIFE = 7200
TOKEN_OVERLAP = 300
PUSH_ATTEMPTS = 3
SESSION_IDLE = 30 * 60
TYPING_LIFE = 15
TYPING_NEEDS_EXCHANGE = 30
MAX_AGENTS = 100
RECORD_PERIOD_MAX = 24 * 3600
RECORD_NUMBER_MAX = 10000
# Chat-record operation codes (msgrecord/getmsglist): the agent sent / the agent received.
AGENT_SENT, AGENT_RECEIVED = 2002, 2003
# Which interaction opens which allowance: (seconds it lasts, messages it allows).
ALLOWANCES = {"message": (48 * 3600, 5), "event": (60, 3)}
OPENS_EVENT_ALLOWANCE = {"subscribe", "SCAN", "CLICK", "scancode_push", "scancode_waitmsg"}
REPLY_TYPES = {"text", "image", "voice", "video", "music", "news", "transfer_customer_service"}
ONE_ARTICLE_ONLY = {"text", "image", "voice", "video", "shortvideo", "location", "link"}
KF_ACCOUNT = re.compile(r"([A-Za-z0-9_]{1,10})@([A-Za-z0-9_-]{1,30})")

ERRMSG = {
    -1: "system error",
    0: "ok",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40007: "invalid media_id",
    40008: "invalid message type",
    40013: "invalid appid",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    42001: "access_token expired",
    43001: "require GET method",
    43002: "require POST method",
    44002: "empty post data",
    44003: "empty news data",
    44004: "empty content",
    45008: "article size out of limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    45072: "command invalid",
    45080: "no message exchange with the user in the last 30 seconds",
    45081: "already typing",
    47001: "data format error",
    48001: "api unauthorized",
    65401: "invalid customer service account",
    65403: "invalid nickname",
    65404: "invalid customer service account name",
    65405: "number of customer service accounts reaches the limit",
    65406: "customer service account already exists",
    65413: "no session for this customer",
    65414: "customer is being served by another agent",
    65415: "customer service agent is offline",
    65416: "invalid parameter",
    65417: "query period exceeds the limit",
}
OK = {"errcode": 0, "errmsg": "ok"}
_BAD_JSON = object()


class ApiError(Exception):
    """A WeChat API error: `errcode` and `errmsg` as the real API returns them."""

    def __init__(self, errcode: int, errmsg: str | None = None):
        self.errcode = errcode
        self.errmsg = errmsg or ERRMSG.get(errcode, "error")
        super().__init__(f"{errcode} {self.errmsg}")

    def body(self) -> dict:
        return {"errcode": self.errcode, "errmsg": self.errmsg}


class BotReplyError(Exception):
    """The bot did not answer in time or answered something WeChat refuses; the user sees `shown`."""

    shown = SERVICE_UNAVAILABLE


class SimError(Exception):
    """Something a real user cannot do (e.g. message an account they unfollowed)."""


@dataclass
class _Allowance:
    opened: float
    seconds: float
    left: int

    def open_at(self, now: float) -> bool:
        return now < self.opened + self.seconds


@dataclass
class _User:
    subscribed: bool = True
    allowances: dict = field(default_factory=dict)
    last_exchange: float = -math.inf
    typing_until: float = -math.inf


@dataclass
class _Token:
    kind: str  # "basic" (/cgi-bin/token) or "stable" (/cgi-bin/stable_token): isolated from each other
    expires: float
    invalid_from: float = math.inf


@dataclass
class _Fault:
    suffix: str
    errcode: int | None
    http_status: int | None
    delay: float
    times: int


# path -> (HTTP method, handler suffix, needs access_token)
ROUTES = {
    "/cgi-bin/token": ("GET", "token", False),
    "/cgi-bin/stable_token": ("POST", "stable_token", False),
    "/cgi-bin/message/custom/send": ("POST", "custom_send", True),
    "/cgi-bin/message/custom/typing": ("POST", "typing", True),
    "/cgi-bin/customservice/getkflist": ("GET", "kf_list", True),
    "/cgi-bin/customservice/getonlinekflist": ("GET", "kf_online_list", True),
    "/customservice/kfaccount/add": ("POST", "kf_add", True),
    "/customservice/kfaccount/update": ("POST", "kf_update", True),
    "/customservice/kfaccount/del": ("GET", "kf_del", True),
    "/customservice/kfsession/create": ("POST", "session_create", True),
    "/customservice/kfsession/close": ("POST", "session_close", True),
    "/customservice/kfsession/getsession": ("GET", "session_get", True),
    "/customservice/kfsession/getsessionlist": ("GET", "session_list", True),
    "/customservice/kfsession/getwaitcase": ("GET", "wait_case", True),
    "/customservice/msgrecord/getmsglist": ("POST", "msg_records", True),
}


def _need(value, errcode: int):
    if not isinstance(value, str) or not value:
        raise ApiError(errcode)
    return value


def _check_custom_body(msgtype: str, body) -> None:
    """The type-specific part of a custom message (doc §5)."""
    if not isinstance(body, dict):
        raise ApiError(47001, f"data format error: missing {msgtype!r} object")
    if msgtype == "text":
        _need(body.get("content"), 44004)
    elif msgtype in ("image", "voice", "mpnews", "video"):
        _need(body.get("media_id"), 40007)
    elif msgtype == "music":
        for key in ("musicurl", "hqmusicurl"):
            _need(body.get(key), 47001)
        _need(body.get("thumb_media_id"), 40007)
    elif msgtype == "news":
        articles = body.get("articles")
        if not isinstance(articles, list) or not articles:
            raise ApiError(44003)
        if len(articles) > 1:
            raise ApiError(45008)
    elif msgtype == "msgmenu":
        if not isinstance(body.get("list"), list) or not body["list"]:
            raise ApiError(47001)
    elif msgtype == "wxcard":
        _need(body.get("card_id"), 47001)
    elif msgtype == "miniprogrampage":
        for key in ("appid", "pagepath"):
            _need(body.get(key), 47001)
        _need(body.get("thumb_media_id"), 40007)
    else:
        raise ApiError(40008)


class FakeWeChat:
    """WeChat's servers for one official account; see the module docstring."""

    def __init__(self, app_id="wxdemo", app_secret="demo-secret", token="demo-token",
                 encoding_aes_key="", mode="plaintext", bot_url=None, account_id=DEFAULT_ACCOUNT,
                 clock=time.time, wechat_id="demo_wallet_official", reply_deadline=5.0):
        if mode not in MODES or (mode != "plaintext" and not encoding_aes_key):
            raise ValueError(f"mode must be one of {MODES}; compatible and safe need an EncodingAESKey")
        self.app_id, self.app_secret, self.token = app_id, app_secret, token
        self.encoding_aes_key, self.mode, self.bot_url = encoding_aes_key, mode, bot_url
        self.account_id, self.wechat_id = account_id, wechat_id
        self.clock, self.reply_deadline = clock, reply_deadline
        self.builder = PushBuilder(account_id)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._tokens: dict[str, _Token] = {}
        self._stable: str | None = None
        self._users: dict[str, _User] = {}
        self._agents: dict[str, dict] = {}
        self._next_kf_id = 1001
        self._sessions: dict[str, dict] = {}   # openid -> {kf_account, createtime, active_at}
        self._waiting: dict[str, dict] = {}    # openid -> {latest_time, kf_account, messages}
        self._inbox: dict[str, list] = {}
        self._records: list[dict] = []       # chat records, msgid = index + 1
        self.session_notes: list[dict] = []  # every kfsession/create `text`: openid, kf_account, text, at
        self._faults: list[_Fault] = []
        self._push_threads: list[threading.Thread] = []
        self.token_fetches = 0
        self.calls: list[dict] = []
        self.sent: list[dict] = []      # read-only for callers; appended under the lock
        self.pushes: list[dict] = []
        self.retries: list[dict] = []
        self.push_errors: list[str] = []
        self._server = None
        self._thread = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "FakeWeChat":
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-wechat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None
        self.wait_pushes(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeWeChat is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ------------------------------------------------------------------ API dispatch
    def inject(self, path_suffix: str, errcode: int | None = None, http_status: int | None = None,
               delay: float = 0.0, times: int = 1) -> None:
        """Make the next `times` calls whose path ends with `path_suffix` fail or be slow."""
        with self._lock:
            self._faults.append(_Fault(path_suffix, errcode, http_status, delay, times))

    def clear_faults(self) -> None:
        """Forget every injected fault not used up yet."""
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.times > 0 and path.endswith(fault.suffix):
                fault.times -= 1
                return fault
        return None

    def handle_api(self, method: str, path: str, params: dict, raw: bytes) -> tuple[int, dict]:
        """One API request -> (HTTP status, JSON body). Called by the HTTP handler."""
        try:
            payload = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except ValueError:
            payload = _BAD_JSON
        pushes: list[tuple[str, str]] = []
        with self._lock:
            self.calls.append({"method": method, "path": path, "params": dict(params),
                               "json": None if payload is _BAD_JSON else payload, "at": self.clock()})
            fault = self._take_fault(path)
        if fault is not None:
            time.sleep(fault.delay)
            if fault.http_status:
                return fault.http_status, ApiError(-1).body()
            if fault.errcode is not None:
                return 200, ApiError(fault.errcode).body()
        try:
            result = self._dispatch(method, path, params, payload, pushes)
        except ApiError as exc:
            return 200, exc.body()
        for openid, xml in pushes:
            self._push_later(openid, xml)
        return 200, result

    def _dispatch(self, method, path, params, payload, pushes) -> dict:
        if path not in ROUTES:
            raise ApiError(48001)
        expected, name, needs_token = ROUTES[path]
        if method != expected:
            raise ApiError(43001 if expected == "GET" else 43002)
        with self._lock:
            if needs_token:
                self._check_token(params.get("access_token"))
            body = {}
            if expected == "POST":
                if payload is None:
                    raise ApiError(44002)
                if not isinstance(payload, dict):  # also _BAD_JSON
                    raise ApiError(47001)
                body = payload
            return getattr(self, "_api_" + name)(params, body, pushes)

    # ------------------------------------------------------------------ tokens
    def _issue(self, kind: str) -> str:
        now = self.clock()
        token = secrets.token_urlsafe(96)
        self._tokens[token] = _Token(kind, now + TOKEN_LIFE)
        return token

    def _check_credentials(self, grant_type, appid, secret) -> None:
        if grant_type != "client_credential":
            raise ApiError(40002)
        if not appid:
            raise ApiError(41002)
        if appid != self.app_id:
            raise ApiError(40013)
        if not secret:
            raise ApiError(41004)
        if secret != self.app_secret:
            raise ApiError(40001, "invalid credential, invalid appsecret")

    def _api_token(self, params, body, pushes):
        self._check_credentials(params.get("grant_type"), params.get("appid"), params.get("secret"))
        now = self.clock()
        for old in self._tokens.values():
            if old.kind == "basic":
                old.invalid_from = min(old.invalid_from, now + TOKEN_OVERLAP)
        self.token_fetches += 1
        return {"access_token": self._issue("basic"), "expires_in": TOKEN_LIFE}

    def _api_stable_token(self, params, body, pushes):
        self._check_credentials(body.get("grant_type"), body.get("appid"), body.get("secret"))
        now = self.clock()
        current = self._tokens.get(self._stable) if self._stable else None
        if current is not None and body.get("force_refresh") is True:
            current.invalid_from = now
            current = None
        if current is None or current.expires - now <= TOKEN_OVERLAP:
            self._stable = self._issue("stable")
            current = self._tokens[self._stable]
        return {"access_token": self._stable, "expires_in": int(current.expires - now)}

    def _check_token(self, token) -> None:
        if not token:
            raise ApiError(41001)
        record = self._tokens.get(token)
        now = self.clock()
        if record is None or now >= record.invalid_from:
            raise ApiError(40001)
        if now >= record.expires:
            raise ApiError(42001)

    def expire_tokens(self) -> None:
        """Every token issued so far now answers 42001."""
        with self._lock:
            now = self.clock()
            for record in self._tokens.values():
                record.expires = min(record.expires, now)

    # ------------------------------------------------------------------ users and allowances
    def add_user(self, openid: str, subscribed: bool = True) -> None:
        """A follower who has not interacted yet (custom messages to them answer 45015)."""
        with self._lock:
            self._users.setdefault(openid, _User(subscribed=subscribed))

    def _known_user(self, openid) -> _User:
        user = self._users.get(openid) if isinstance(openid, str) else None
        if user is None:
            raise ApiError(40003)
        return user

    def _interact(self, openid: str, allowance: str | None, *, event: str | None = None) -> _User:
        """Record an interaction; raises SimError for what a real user cannot do."""
        now = self.clock()
        user = self._users.get(openid)
        if user is None:
            user = self._users[openid] = _User(subscribed=event != "subscribe")
        if event == "subscribe":
            if user.subscribed:
                raise SimError(f"{openid} already follows the account; WeChat sends no second subscribe")
            user.subscribed = True
        elif not user.subscribed:
            raise SimError(f"{openid} does not follow the account (subscribe first)")
        if event == "unsubscribe":
            user.subscribed = False
            user.allowances.clear()
            self._waiting.pop(openid, None)
            return user
        user.last_exchange = now
        if allowance is not None:
            seconds, count = ALLOWANCES[allowance]
            user.allowances[allowance] = _Allowance(now, seconds, count)
        return user

    def _consume_allowance(self, user: _User) -> None:
        now = self.clock()
        if not user.subscribed:
            raise ApiError(45015)
        live = [a for a in user.allowances.values() if a.open_at(now)]
        if not live:
            raise ApiError(45015)
        usable = [a for a in live if a.left > 0]
        if not usable:
            raise ApiError(45047)
        min(usable, key=lambda a: a.opened + a.seconds).left -= 1

    # ------------------------------------------------------------------ customer-service messages
    def _api_custom_send(self, params, body, pushes):
        user = self._known_user(body.get("touser"))
        msgtype = body.get("msgtype")
        if msgtype not in ("text", "image", "voice", "video", "music", "news", "mpnews", "msgmenu",
                           "wxcard", "miniprogrampage"):
            raise ApiError(40008)
        _check_custom_body(msgtype, body.get(msgtype))
        kf_account = None
        if "customservice" in body:
            service = body["customservice"]
            kf_account = service.get("kf_account") if isinstance(service, dict) else None
            if kf_account not in self._agents:
                raise ApiError(65401)
        self._consume_allowance(user)
        self._record_sent(body["touser"], msgtype, body[msgtype], kf_account, via="api")
        return dict(OK)

    def _record_sent(self, openid, msgtype, payload, kf_account, via) -> None:
        user = self._users[openid]
        user.typing_until = -math.inf  # a message ends the typing indicator
        user.last_exchange = self.clock()
        self.sent.append({"touser": openid, "msgtype": msgtype,
                          "content": payload.get("content") if msgtype == "text" else None,
                          "body": payload, "kf_account": kf_account, "via": via, "at": self.clock()})
        self._changed.notify_all()

    def _api_typing(self, params, body, pushes):
        user = self._known_user(body.get("touser"))
        command = body.get("command")
        if command not in ("Typing", "CancelTyping"):
            raise ApiError(45072)
        now = self.clock()
        if now - user.last_exchange > TYPING_NEEDS_EXCHANGE:
            raise ApiError(45080)
        if command == "CancelTyping":
            user.typing_until = -math.inf
        elif now < user.typing_until:
            raise ApiError(45081)
        else:
            user.typing_until = now + TYPING_LIFE
        return dict(OK)

    def is_typing(self, openid: str) -> bool:
        with self._lock:
            user = self._users.get(openid)
            return user is not None and self.clock() < user.typing_until

    def sent_to(self, openid: str) -> list[dict]:
        with self._lock:
            return [m for m in self.sent if m["touser"] == openid]

    def wait_for_sent(self, openid: str, count: int, timeout: float = 5.0) -> list[dict]:
        """The messages sent to `openid` once there are `count`; TimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [m for m in self.sent if m["touser"] == openid]
                left = deadline - time.monotonic()
                if len(found) >= count:
                    return found
                if left <= 0:
                    raise TimeoutError(f"{len(found)} of {count} messages to {openid} within {timeout}s: {found}")
                self._changed.wait(min(left, 0.5))

    # ------------------------------------------------------------------ kf accounts
    def _check_account_name(self, kf_account) -> str:
        match = KF_ACCOUNT.fullmatch(kf_account) if isinstance(kf_account, str) else None
        if match is None or match.group(2) != self.wechat_id:
            raise ApiError(65404)
        return kf_account

    def _agent(self, kf_account) -> dict:
        agent = self._agents.get(kf_account) if isinstance(kf_account, str) else None
        if agent is None:
            raise ApiError(65401)
        return agent

    @staticmethod
    def _check_nickname(nickname) -> str:
        if not isinstance(nickname, str) or not 1 <= len(nickname) <= 16:
            raise ApiError(65403)
        return nickname

    def _add_agent(self, kf_account, nickname, online: bool) -> None:
        self._check_account_name(kf_account)
        self._check_nickname(nickname)
        if kf_account in self._agents:
            raise ApiError(65406)
        if len(self._agents) >= MAX_AGENTS:
            raise ApiError(65405)
        self._agents[kf_account] = {"kf_account": kf_account, "kf_nick": nickname,
                                    "kf_id": str(self._next_kf_id), "kf_headimgurl": "", "online": online}
        self._next_kf_id += 1

    def _api_kf_add(self, params, body, pushes):
        self._add_agent(body.get("kf_account"), body.get("nickname"), online=False)
        return dict(OK)

    def _api_kf_update(self, params, body, pushes):
        self._check_account_name(body.get("kf_account"))
        agent = self._agent(body.get("kf_account"))
        agent["kf_nick"] = self._check_nickname(body.get("nickname"))
        return dict(OK)

    def _api_kf_del(self, params, body, pushes):
        kf_account = self._agent(params.get("kf_account"))["kf_account"]
        del self._agents[kf_account]
        for openid in [o for o, s in self._sessions.items() if s["kf_account"] == kf_account]:
            del self._sessions[openid]
        for case in self._waiting.values():
            if case["kf_account"] == kf_account:
                case["kf_account"] = None
        return dict(OK)

    def _api_kf_list(self, params, body, pushes):
        keys = ("kf_account", "kf_nick", "kf_id", "kf_headimgurl")
        return {"kf_list": [{k: a[k] for k in keys} for a in self._agents.values()]}

    def _api_kf_online_list(self, params, body, pushes):
        self._expire_sessions()
        online = [{"kf_account": a["kf_account"], "status": 1, "kf_id": a["kf_id"],
                   "accepted_case": sum(s["kf_account"] == a["kf_account"] for s in self._sessions.values())}
                  for a in self._agents.values() if a["online"]]
        return {"kf_online_list": online}

    # ------------------------------------------------------------------ kf sessions
    def _expire_sessions(self) -> None:
        """Forwarding to an agent stops after 30 idle minutes."""
        cutoff = self.clock() - SESSION_IDLE
        for openid in [o for o, s in self._sessions.items() if s["active_at"] < cutoff]:
            del self._sessions[openid]

    def _create_session(self, kf_account, openid, pushes, text=None) -> None:
        self._known_user(openid)
        if text is not None and not isinstance(text, str):
            raise ApiError(47001)
        agent = self._agent(kf_account)
        if not agent["online"]:
            raise ApiError(65415)
        self._expire_sessions()
        current = self._sessions.get(openid)
        if current is not None:
            if current["kf_account"] != kf_account:
                raise ApiError(65414)
            return
        now = self.clock()
        self._sessions[openid] = {"kf_account": kf_account, "createtime": int(now), "active_at": now}
        if text:
            self.session_notes.append({"openid": openid, "kf_account": kf_account, "text": text, "at": now})
        case = self._waiting.pop(openid, None)
        for message in case["messages"] if case else ():
            self._to_agent(kf_account, message)
        pushes.append((openid, self.builder.kf_create_session(openid, kf_account)))

    def _to_agent(self, kf_account: str, message: dict) -> None:
        self._inbox.setdefault(kf_account, []).append(message)
        text = message.get("content") if message.get("msgtype") == "text" else f"[{message.get('msgtype')}]"
        self._record(message["openid"], AGENT_RECEIVED, text or "", kf_account, message["at"])

    def _record(self, openid: str, opercode: int, text: str, kf_account: str, at: float) -> None:
        self._records.append({"openid": openid, "opercode": opercode, "text": text, "time": int(at),
                              "worker": kf_account})

    def _session_with(self, kf_account, openid) -> dict:
        """The live session between this agent and user, else 65413."""
        self._expire_sessions()
        session = self._sessions.get(openid)
        if session is None or session["kf_account"] != kf_account:
            raise ApiError(65413)
        return session

    def _close_session(self, kf_account, openid, pushes) -> None:
        self._agent(kf_account)
        self._session_with(kf_account, openid)
        del self._sessions[openid]
        pushes.append((openid, self.builder.kf_close_session(openid, kf_account)))

    def _api_session_create(self, params, body, pushes):
        self._create_session(body.get("kf_account"), body.get("openid"), pushes, body.get("text"))
        return dict(OK)

    def _api_session_close(self, params, body, pushes):
        self._close_session(body.get("kf_account"), body.get("openid"), pushes)
        return dict(OK)

    def _api_session_get(self, params, body, pushes):
        self._known_user(params.get("openid"))
        self._expire_sessions()
        session = self._sessions.get(params["openid"])
        return {"createtime": session["createtime"] if session else 0, "errcode": 0, "errmsg": "ok",
                "kf_account": session["kf_account"] if session else ""}

    def _api_session_list(self, params, body, pushes):
        kf_account = self._agent(params.get("kf_account"))["kf_account"]
        self._expire_sessions()
        return {"sessionlist": [{"createtime": s["createtime"], "openid": o}
                                for o, s in self._sessions.items() if s["kf_account"] == kf_account]}

    def _api_wait_case(self, params, body, pushes):
        cases = [{"latest_time": c["latest_time"], "openid": o} for o, c in self._waiting.items()]
        return {"count": len(cases), "waitcaselist": cases[:100]}

    def _api_msg_records(self, params, body, pushes):
        start, end, msgid, number = (body.get(k) for k in ("starttime", "endtime", "msgid", "number"))
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end, msgid, number)):
            raise ApiError(65416)
        if end < start or msgid < 1 or not 1 <= number <= RECORD_NUMBER_MAX:
            raise ApiError(65416)
        if end - start > RECORD_PERIOD_MAX:
            raise ApiError(65417)
        found = [(i + 1, r) for i, r in enumerate(self._records[msgid - 1:], start=msgid - 1)
                 if start <= r["time"] <= end][:number]
        return {"recordlist": [dict(r) for _, r in found], "number": len(found),
                "msgid": found[-1][0] + 1 if found else msgid}

    def session_text(self, openid: str) -> list[str]:
        """The `text` of every kfsession/create for `openid`, oldest first."""
        with self._lock:
            return [n["text"] for n in self.session_notes if n["openid"] == openid]

    def session_of(self, openid: str) -> str | None:
        """The kf account serving `openid` now, or None."""
        with self._lock:
            self._expire_sessions()
            session = self._sessions.get(openid)
            return session["kf_account"] if session else None

    def waiting(self) -> list[str]:
        with self._lock:
            return list(self._waiting)

    # ------------------------------------------------------------------ pushing to the bot
    def _deliver(self, openid: str, xml: str) -> dict | None:
        """Push `xml` like WeChat: 5 s deadline, up to 3 attempts; returns the decoded reply."""
        if not self.bot_url:
            return None  # like an account with no server URL configured: nothing is pushed
        pusher = Pusher(self.bot_url, self.token, self.app_id, self.encoding_aes_key, self.mode)
        error = None
        with pusher.session:
            for attempt in range(1, PUSH_ATTEMPTS + 1):
                if error is not None:
                    with self._lock:
                        self.retries.append({"openid": openid, "attempt": attempt, "after": repr(error)})
                try:
                    response = pusher.push(xml, openid=openid, timeout=self.reply_deadline)
                except requests.RequestException as exc:  # timed out or refused: WeChat re-sends
                    error = exc
                    continue
                try:
                    reply = pusher.decode_reply(response)
                    self._check_reply(reply, openid, xml)
                except ReplyError as exc:
                    self._log_push(openid, xml, attempt, response, None, str(exc))
                    raise BotReplyError(str(exc)) from None
                self._log_push(openid, xml, attempt, response, reply, None)
                return reply
        raise BotReplyError(f"no answer within {self.reply_deadline}s in {PUSH_ATTEMPTS} attempts: {error}")

    def _log_push(self, openid, xml, attempt, response, reply, error) -> None:
        with self._lock:
            self.pushes.append({"openid": openid, "xml": xml, "attempt": attempt,
                                "status": response.status_code, "reply": reply, "error": error})

    def _check_reply(self, reply: dict | None, openid: str, pushed: str) -> None:
        if reply is None:
            return
        kind = reply.get("MsgType")
        if kind not in REPLY_TYPES:
            raise ReplyError(f"reply MsgType {kind!r} is not a passive reply type")
        if reply.get("ToUserName") != openid or reply.get("FromUserName") != self.account_id:
            raise ReplyError("reply ToUserName/FromUserName do not answer this push")
        if kind == "text" and "Content" not in reply:
            raise ReplyError("text reply without Content")
        if kind == "news":
            articles = reply.get("Articles") or []
            limit = 1 if xml_field(pushed, "MsgType") in ONE_ARTICLE_ONLY else 8
            if not 1 <= len(articles) <= limit or reply.get("ArticleCount") != len(articles):
                raise ReplyError(f"news reply has {len(articles)} articles (1..{limit}, matching ArticleCount)")

    def _push_later(self, openid: str, xml: str) -> None:
        thread = threading.Thread(target=self._push_quietly, args=(openid, xml), daemon=True)
        with self._lock:
            self._push_threads = [t for t in self._push_threads if t.is_alive()] + [thread]
        thread.start()

    def _push_quietly(self, openid: str, xml: str) -> None:
        """Event pushes whose reply WeChat ignores; failures are only recorded."""
        try:
            self._deliver(openid, xml)
        except BotReplyError as exc:
            with self._lock:
                self.push_errors.append(f"{openid}: {exc}")

    def wait_pushes(self, timeout: float = 5.0) -> None:
        """Wait (bounded) for the event pushes started by API calls to finish."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._push_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------ the user side
    def user_says(self, openid: str, text: str) -> dict | None:
        return self.user_sends(openid, "text", content=text)

    def user_sends(self, openid: str, kind: str, **fields) -> dict | None:
        """A user message: to the serving agent's inbox (returns None) or pushed to the bot (returns its reply)."""
        xml = self.builder.message(openid, kind, **fields)
        now = self.clock()
        record = {"openid": openid, "msgtype": kind, "content": fields.get("content"),
                  "fields": fields, "at": now}
        with self._lock:
            self._interact(openid, "message")
            self._expire_sessions()
            session = self._sessions.get(openid)
            if session is not None:
                session["active_at"] = now
                self._to_agent(session["kf_account"], record)
                self._changed.notify_all()
                return None
            case = self._waiting.get(openid)
            if case is not None:
                case["latest_time"] = int(now)
                case["messages"].append(record)
        reply = self._deliver(openid, xml)
        if reply is not None and reply["MsgType"] == "transfer_customer_service":
            target = (reply.get("TransInfo") or {}).get("KfAccount") or None
            with self._lock:
                self._expire_sessions()
                session = self._sessions.get(openid)
                if session is not None:  # the developer created the session meanwhile: it has the message
                    self._to_agent(session["kf_account"], record)
                    return reply
                case = self._waiting.setdefault(openid, {"latest_time": int(now), "messages": [record]})
                case["kf_account"] = target
        return reply

    def user_event(self, openid: str, event: str, **fields) -> dict | None:
        """A user event (subscribe(scene=), unsubscribe, SCAN(scene), LOCATION, CLICK(key), VIEW(url)); events always reach the bot."""
        if event.startswith("kf_"):
            raise SimError("kf events come from agents; use agent_accept/agent_close/agent_switch")
        xml = self.builder.event(openid, event, **fields)
        with self._lock:
            self._interact(openid, "event" if event in OPENS_EVENT_ALLOWANCE else None, event=event)
        return self._deliver(openid, xml)

    # ------------------------------------------------------------------ the agent side
    def add_agent(self, kf_account: str, nickname: str, online: bool = True) -> None:
        with self._lock:
            self._add_agent(kf_account, nickname, online)

    def has_agent(self, kf_account: str) -> bool:
        with self._lock:
            return kf_account in self._agents

    def set_agent_online(self, kf_account: str, online: bool) -> None:
        with self._lock:
            self._agent(kf_account)["online"] = online

    def agent_inbox(self, kf_account: str) -> list[dict]:
        with self._lock:
            return list(self._inbox.get(kf_account, []))

    def _push_now(self, pushes) -> None:
        for openid, xml in pushes:
            self._push_quietly(openid, xml)

    def agent_accept(self, kf_account: str, openid: str | None = None) -> str | None:
        """Take `openid` (or the first user waiting for anyone or for this agent); pushes kf_create_session."""
        pushes = []
        with self._lock:
            if openid is None:
                openid = next((o for o, c in self._waiting.items() if c["kf_account"] in (None, kf_account)), None)
                if openid is None:
                    return None
            self._create_session(kf_account, openid, pushes)
        self._push_now(pushes)
        return openid

    def agent_says(self, kf_account: str, openid: str, text: str) -> None:
        with self._lock:
            self._session_with(kf_account, openid)["active_at"] = self.clock()
            self._record_sent(openid, "text", {"content": text}, kf_account, via="kf")
            self._record(openid, AGENT_SENT, text, kf_account, self.clock())

    def agent_close(self, kf_account: str, openid: str) -> None:
        pushes = []
        with self._lock:
            self._close_session(kf_account, openid, pushes)
        self._push_now(pushes)

    def agent_switch(self, from_account: str, to_account: str, openid: str) -> None:
        with self._lock:
            session = self._session_with(from_account, openid)
            if not self._agent(to_account)["online"]:
                raise ApiError(65415)
            session.update(kf_account=to_account, active_at=self.clock())
        self._push_now([(openid, self.builder.kf_switch_session(openid, from_account, to_account))])


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeWeChat/1.0"
    MAX_BODY = 1024 * 1024

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = min(int(self.headers.get("Content-Length") or 0), self.MAX_BODY)
        raw = self.rfile.read(length) if length else b""
        status, payload = self.server.fake.handle_api(method, url.path, params, raw)
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; encoding=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 - quiet; `calls` is the log
        pass
