"""`python -m bot demo`: the bot, a fake WeChat and a terminal chat, all on this machine.

Starts the embedded Redis (unless REDIS_URL is set), a local fake WeChat (API
server + pusher), gunicorn workers and the queue worker pointed at it, then
opens the chat: type as a WeChat user; with --agent, act as a customer-service
agent too. --reset first deletes the bot's state (every key under
BOT_REDIS_PREFIX and the outbound queue), so the demo starts as for a new user.
On the way out every process it started is stopped, except the embedded Redis,
which keeps running for the next start (the demo says how to stop it). Ctrl-C
ends it cleanly at any point.
"""
from __future__ import annotations

DEMO = {
    "WECHAT_TOKEN": "demo-token",
    "WECHAT_APP_ID": "wxdemo0000000001",
    "WECHAT_APP_SECRET": "demo-secret",
    "WECHAT_ENCODING_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
}
DEMO_AGENTS = (("kf1001@demo_wallet_official", "小王"), ("kf1002@demo_wallet_official", "小李"))
INTERRUPTED = 130  # the shell's status for a program ended by Ctrl-C


def reset_state(redis_url: str, settings) -> int:
    """Delete the bot's keys and the outbound queue's jobs; returns the keys deleted."""
    import redis
    from rq import Queue

    from bot.storage import Storage

    client = redis.Redis.from_url(redis_url)
    try:
        deleted = Storage(client, settings.BOT_REDIS_PREFIX).clear_all()
        Queue(settings.BOT_QUEUE_NAME, connection=client).empty()
        return deleted
    finally:
        client.close()


def run(args) -> int:
    import os
    from pathlib import Path

    from config.settings import Settings

    embedded = not os.environ.get("REDIS_URL")
    redis_dir = Path(Settings.from_env({**os.environ, **DEMO}).BOT_VAR_DIR) / "redis"
    try:
        return _run(args)
    except KeyboardInterrupt:  # during start-up or shut-down: what was started is stopped already
        print("\n已中断。")
        return INTERRUPTED
    finally:
        if embedded:
            print(f"内嵌 Redis 仍在后台运行（数据在 {redis_dir}，下次启动直接使用）。"
                  "停止它：.venv/bin/python -m bot redis stop")


def _run(args) -> int:
    import os
    import signal
    from pathlib import Path

    import redis

    from bot.redis_server import ensure_embedded
    from bot.sim.chat import run_chat
    from bot.sim.fake_wechat import FakeWeChat
    from bot.sim.stack import BotProcesses
    from bot.storage import Storage
    from config.settings import Settings
    from handlers.events import menu

    settings = Settings.from_env({**os.environ, **DEMO})
    env = dict(DEMO)
    env["WECHAT_ENCODING_AES_KEY"] = DEMO["WECHAT_ENCODING_AES_KEY"] if args.mode != "plaintext" else ""
    env["REDIS_URL"] = os.environ.get("REDIS_URL") or ensure_embedded(settings.BOT_VAR_DIR)
    env["BOT_LOG_LEVEL"] = os.environ.get("BOT_LOG_LEVEL", "INFO")
    env["BOT_AGENT_REFRESH"] = "1"
    env["BOT_PICKUP_TIMEOUT"] = os.environ.get("BOT_PICKUP_TIMEOUT", "60")
    if args.reset:
        print(f"已清空机器人状态（删除 {reset_state(env['REDIS_URL'], settings)} 个键）。")
    if not args.real_hours:  # agents on duty around the clock, so the handoff can be tried any time
        always = Path(settings.BOT_VAR_DIR) / "demo_hours_always_open.json"
        always.parent.mkdir(parents=True, exist_ok=True)
        always.write_text('{"timezone": "Asia/Shanghai", "always_open": true, "weekly": {}}', encoding="utf-8")
        env["BOT_HOURS_FILE"] = str(always)
    fake = FakeWeChat(app_id=env["WECHAT_APP_ID"], app_secret=env["WECHAT_APP_SECRET"], token=env["WECHAT_TOKEN"],
                      encoding_aes_key=env["WECHAT_ENCODING_AES_KEY"], mode=args.mode)
    for account, nickname in DEMO_AGENTS:
        fake.add_agent(account, nickname, online=True)
    storage = Storage(redis.Redis.from_url(env["REDIS_URL"]), settings.BOT_REDIS_PREFIX)
    bot = None
    try:
        fake.start()
        env["WECHAT_API_BASE_URL"] = fake.base_url
        bot = BotProcesses(env, web_workers=args.workers)
        print(f"启动中：假微信 {fake.base_url}，机器人（{args.mode} 模式）… 日志在 {bot.log_dir}")
        # A Ctrl-C raised while a process is being spawned would lose track of it: during the start
        # it is only noted, and takes effect once every process is up (and can be stopped).
        interrupted = []
        previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
        try:
            bot.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        if interrupted:
            raise KeyboardInterrupt
        fake.bot_url = bot.callback_url
        buttons = {key: action.get("name", "") for key, action in menu()["clicks"].items()}
        return run_chat(fake, openid=args.user, agent=args.agent, menu=buttons, routes=storage.handled_counts)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the shut-down finish: no half-stopped processes
        if bot is not None:
            bot.stop()
        fake.stop()
        storage.redis.close()


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="run the bot with a local fake WeChat and chat with it")
    parser.add_argument("--mode", choices=["plaintext", "compatible", "safe"], default="safe",
                        help="message encryption mode WeChat uses (default: safe)")
    parser.add_argument("--agent", metavar="KF_ACCOUNT", nargs="?", const=DEMO_AGENTS[0][0],
                        help=f"also act as this customer-service agent (default {DEMO_AGENTS[0][0]})")
    parser.add_argument("--user", default="oDemoUser0000000000000000001", help="the WeChat user's openid")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--real-hours", action="store_true",
                        help="use config/service_hours.json (default: agents on duty around the clock)")
    parser.add_argument("--reset", action="store_true",
                        help="start from empty state: delete the bot's Redis keys and queued jobs first")
    parser.set_defaults(func=run)
