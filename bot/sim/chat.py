"""The local demo's terminal chat: type as a WeChat user and see what WeChat would show.

`run_chat` reads lines from stdin: plain text is a message to the official account, slash
commands send events and other kinds (see HELP). It prints what the WeChat user would see:
the bot's passive reply to each push and, from a background poller on `fake.sent`, every
customer-service message sent to the user through the API or by an agent, as it arrives.
`/debug` adds what the user would not see: the route the bot took (from `routes`, a snapshot
of the bot's per-route counts), transfers, silent answers and why WeChat refused one. With
`agent` the tester can also act as that kf agent (accept, reply, close, see the queue) and
sees the agent's inbox. Ctrl-C ends the chat like /quit.
"""
from __future__ import annotations

import sys
import threading

from typing import Callable, Mapping

from bot.sim.fake_wechat import ApiError, BotReplyError, FakeWeChat, SimError

POLL_SECONDS = 0.2
MAX_WAIT = 30.0
HELP = """命令（其余输入都作为文字消息发给公众号）：
  /help                 本帮助            /quit             退出
  /subscribe [场景]     关注（可带二维码场景） /unsubscribe    取消关注
  /click KEY            点击菜单          /view URL         点击菜单链接
  /scan 场景            扫码（已关注）    /location         发送位置
  /image                发送图片          /voice [识别文字] 发送语音
  /link URL             发送链接          /user OPENID      换一个用户
  /scancode 内容        用菜单的“扫一扫”扫出这段内容（二维码里的网址、工号等）
  /wait [秒]            等待异步消息（最多 30 秒）
  /debug                开/关调试信息（机器人走的路由、转人工、静默回复）"""
AGENT_HELP = """客服命令（你同时是客服 {agent}）：
  /accept [OPENID]      接入排队的用户    /reply 文字       以客服身份回复当前用户
  /close                结束与当前用户的会话  /queue        查看排队"""


def _indent(text: str) -> str:
    return str(text).replace("\n", "\n    ")


def _articles(articles: list[dict], title="Title", url="Url") -> str:
    return "\n".join(f"[图文] {a.get(title) or a.get(title.lower(), '')}\n{a.get(url) or a.get(url.lower(), '')}"
                     for a in articles)


def render_reply(reply: dict) -> str | None:
    """A passive reply as the user would see it; None for a transfer, which shows the user nothing."""
    kind = reply.get("MsgType")
    if kind == "text":
        return f"公众号: {_indent(reply.get('Content', ''))}"
    if kind == "transfer_customer_service":
        return None
    if kind == "news":
        return f"公众号: {_indent(_articles(reply.get('Articles', [])))}"
    media = reply.get(kind.capitalize(), {}) if kind else {}
    return f"公众号: [{kind}] {media.get('Title') or media.get('MediaId', '')}"


def _sender(kf_account: str | None) -> str:
    return f"客服 {kf_account.split('@')[0].upper()}" if kf_account else "公众号"


def render_sent(message: dict) -> str:
    """A customer-service message (API or agent) as the user would see it."""
    body = message["body"]
    if message["msgtype"] == "text":
        text = message["content"]
    elif message["msgtype"] == "news":
        text = _articles(body.get("articles", []), title="title", url="url")
    else:
        text = f"[{message['msgtype']}] {body.get('title') or body.get('media_id') or ''}"
    return f"{_sender(message['kf_account'])}: {_indent(text)}"


def render_inbox(kf_account: str, message: dict) -> str:
    text = message["content"] if message["msgtype"] == "text" else f"[{message['msgtype']}] {message['fields']}"
    return f"[客服台 {kf_account}] 用户 {message['openid']}: {_indent(text)}"


class ChatRepl:
    """One chat session; `run()` returns the exit status."""

    def __init__(self, fake: FakeWeChat, openid: str, agent: str | None, stdin, stdout,
                 menu: Mapping[str, str] | None = None, routes: Callable[[], Mapping[str, int]] | None = None):
        self.fake, self.openid, self.agent = fake, openid, agent
        self.stdin, self.stdout = stdin, stdout
        self.menu = dict(menu or {})
        self.routes = routes
        self.debug = False
        self._out = threading.Lock()
        self._drain_lock = threading.Lock()
        self._stop = threading.Event()
        self._sent_seen = len(fake.sent)
        self._inbox_seen = len(fake.agent_inbox(agent)) if agent else 0
        self.commands = {
            "help": self._help, "click": self._click, "view": self._view, "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe, "scan": self._scan, "image": self._image, "voice": self._voice,
            "location": self._location, "link": self._link, "user": self._user, "wait": self._wait,
            "debug": self._debug, "scancode": self._scancode,
        }
        if agent:
            self.commands.update(accept=self._accept, reply=self._reply, close=self._close, queue=self._queue)

    def say(self, text: str) -> None:
        with self._out:
            self.stdout.write(text + "\n")
            self.stdout.flush()

    # --- the loop ---
    def run(self) -> int:
        if self.agent:
            if self.fake.has_agent(self.agent):
                self.fake.set_agent_online(self.agent, True)
            else:
                self.fake.add_agent(self.agent, self.agent.split("@")[0][:16], online=True)
        self.say(f"你是微信用户 {self.openid}，正在和公众号 {self.fake.account_id} 聊天。/help 查看命令，/quit 退出。")
        poller = threading.Thread(target=self._poll, name="chat-poller", daemon=True)
        poller.start()
        try:
            for line in iter(self.stdin.readline, ""):
                if not self.handle(line.strip()):
                    break
                self.drain()
        except KeyboardInterrupt:  # Ctrl-C: like /quit
            self.say("")
        finally:
            self._stop.set()
            poller.join(timeout=2)
            self.drain()
        self.say("再见。")
        return 0

    def handle(self, line: str) -> bool:
        """One input line; False ends the chat."""
        if not line:
            return True
        if line in ("/quit", "/exit"):
            return False
        if not line.startswith("/"):
            self._send(lambda: self.fake.user_says(self.openid, line))
            return True
        name, _, arg = line[1:].partition(" ")
        command = self.commands.get(name)
        if command is None:
            self.say(f"（未知命令 /{name}，输入 /help 查看）")
            return True
        try:
            command(arg.strip())
        except (ApiError, SimError, ValueError) as exc:
            self.say(f"（无法执行：{exc}）")
        return True

    def _send(self, push) -> None:
        """Run one push and show what WeChat would show for its reply (and, with /debug, the rest)."""
        before = self.routes() if self.debug and self.routes else None
        try:
            reply = push()
        except BotReplyError as exc:
            self.say(f"（微信提示）{exc.shown}" + (f"    [原因：{exc}]" if self.debug else ""))
            return
        except SimError as exc:
            self.say(f"（无法操作：{exc}）")
            return
        self.drain()  # messages the bot sent while handling the push arrived before its reply
        shown = render_reply(reply) if reply is not None else None
        if shown:
            self.say(shown)
        if self.debug:
            self.say(self._debug_line(reply, before))

    def _debug_line(self, reply: dict | None, before: Mapping[str, int] | None) -> str:
        parts = []
        if before is not None:
            after = self.routes()
            taken = [route for route, n in after.items() if n > before.get(route, 0)]
            parts.append("路由 " + ("、".join(sorted(taken)) if taken else "未知（重发或未计数）"))
        if reply is None:
            agent = self.fake.session_of(self.openid)
            parts.append(f"消息已转给客服 {agent}，公众号收不到" if agent else "公众号回复 success（用户看不到任何内容）")
        elif reply.get("MsgType") == "transfer_customer_service":
            target = (reply.get("TransInfo") or {}).get("KfAccount")
            parts.append("被动回复：转人工" + (f"（指定 {target}）" if target else "（微信排队）"))
        return "  [调试] " + "；".join(parts)

    def _poll(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self.drain()

    def drain(self) -> None:
        """Show the customer-service messages and agent-inbox items that arrived since last time."""
        with self._drain_lock:
            new = self.fake.sent[self._sent_seen:]
            self._sent_seen += len(new)
            for message in new:
                if message["touser"] == self.openid:
                    self.say(render_sent(message))
            if self.agent:
                inbox = self.fake.agent_inbox(self.agent)[self._inbox_seen:]
                self._inbox_seen += len(inbox)
                for message in inbox:
                    self.say(render_inbox(self.agent, message))

    # --- user commands ---
    def _help(self, arg):
        menu = "".join(f"\n  /click {key:<16}{name}" for key, name in self.menu.items())
        self.say(HELP + (f"\n菜单按钮：{menu}" if menu else "")
                 + ("\n" + AGENT_HELP.format(agent=self.agent) if self.agent else ""))

    def _debug(self, arg):
        self.debug = not self.debug
        self.say(f"（调试信息：{'开' if self.debug else '关'}）")

    def _event(self, event, **fields):
        self._send(lambda: self.fake.user_event(self.openid, event, **fields))

    def _message(self, kind, **fields):
        self._send(lambda: self.fake.user_sends(self.openid, kind, **fields))

    def _click(self, arg):
        self._event("CLICK", key=_required(arg, "/click KEY"))

    def _view(self, arg):
        self._event("VIEW", url=_required(arg, "/view URL"))

    def _subscribe(self, arg):
        self._event("subscribe", scene=arg or None)

    def _unsubscribe(self, arg):
        self._event("unsubscribe")

    def _scan(self, arg):
        self._event("SCAN", scene=_required(arg, "/scan 场景"))

    def _scancode(self, arg):
        self._event("scancode_waitmsg", result=_required(arg, "/scancode 内容"))

    def _image(self, arg):
        self._message("image")

    def _voice(self, arg):
        self._message("voice", recognition=arg or None)

    def _location(self, arg):
        self._message("location")

    def _link(self, arg):
        self._message("link", url=_required(arg, "/link URL"))

    def _user(self, arg):
        self.openid = _required(arg, "/user OPENID")
        self.say(f"（现在你是用户 {self.openid}）")

    def _wait(self, arg):
        seconds = min(float(arg or 2), MAX_WAIT)
        self._stop.wait(seconds)
        self.drain()

    # --- agent commands ---
    def _accept(self, arg):
        openid = self.fake.agent_accept(self.agent, arg or None)
        self.say(f"（客服 {self.agent} 接入了 {openid}）" if openid else "（没有排队的用户）")

    def _reply(self, arg):
        self.fake.agent_says(self.agent, self.openid, _required(arg, "/reply 文字"))

    def _close(self, arg):
        self.fake.agent_close(self.agent, self.openid)
        self.say(f"（客服 {self.agent} 结束了与 {self.openid} 的会话）")

    def _queue(self, arg):
        waiting = self.fake.waiting()
        self.say(f"（排队 {len(waiting)} 人）" + "".join(f"\n  {o}" for o in waiting))


def _required(arg: str, usage: str) -> str:
    if not arg:
        raise ValueError(f"用法：{usage}")
    return arg


def run_chat(fake: FakeWeChat, openid: str, agent: str | None = None, stdin=None, stdout=None,
             menu: Mapping[str, str] | None = None, routes: Callable[[], Mapping[str, int]] | None = None) -> int:
    """Chat as `openid` (and, with `agent`, as that kf agent) until /quit, Ctrl-C or end of input.
    `menu`: the menu's CLICK keys and their names, for /help; `routes`: the bot's per-route counts."""
    return ChatRepl(fake, openid, agent, stdin or sys.stdin, stdout or sys.stdout, menu, routes).run()
