"""`python -m bot demo`: the bot, a fake WeChat and a terminal chat, all on this machine.

Starts the embedded Redis, a local fake WeChat (API server + pusher), gunicorn
workers and the queue worker pointed at it, then opens the chat: type as a
WeChat user; with --agent, act as a customer-service agent too.
"""
from __future__ import annotations

DEMO = {
    "WECHAT_TOKEN": "demo-token",
    "WECHAT_APP_ID": "wxdemo0000000001",
    "WECHAT_APP_SECRET": "demo-secret",
    "WECHAT_ENCODING_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
}
DEMO_AGENTS = (("kf1001@demo_wallet_official", "小王"), ("kf1002@demo_wallet_official", "小李"))


def run(args) -> int:
    import os
    from pathlib import Path

    from bot.redis_server import ensure_embedded
    from bot.sim.chat import run_chat
    from bot.sim.fake_wechat import FakeWeChat
    from bot.sim.stack import BotProcesses
    from config.settings import Settings

    settings = Settings.from_env(DEMO)
    env = dict(DEMO)
    env["WECHAT_ENCODING_AES_KEY"] = DEMO["WECHAT_ENCODING_AES_KEY"] if args.mode != "plaintext" else ""
    env["REDIS_URL"] = os.environ.get("REDIS_URL") or ensure_embedded(settings.BOT_VAR_DIR)
    env["BOT_LOG_LEVEL"] = os.environ.get("BOT_LOG_LEVEL", "INFO")
    env["BOT_AGENT_REFRESH"] = "1"
    env["BOT_PICKUP_TIMEOUT"] = os.environ.get("BOT_PICKUP_TIMEOUT", "60")
    if not args.real_hours:  # agents on duty around the clock, so the handoff can be tried any time
        always = Path(settings.BOT_VAR_DIR) / "demo_hours_always_open.json"
        always.parent.mkdir(parents=True, exist_ok=True)
        always.write_text('{"timezone": "Asia/Shanghai", "always_open": true, "weekly": {}}', encoding="utf-8")
        env["BOT_HOURS_FILE"] = str(always)
    fake = FakeWeChat(app_id=env["WECHAT_APP_ID"], app_secret=env["WECHAT_APP_SECRET"], token=env["WECHAT_TOKEN"],
                      encoding_aes_key=env["WECHAT_ENCODING_AES_KEY"], mode=args.mode).start()
    for account, nickname in DEMO_AGENTS:
        fake.add_agent(account, nickname, online=True)
    env["WECHAT_API_BASE_URL"] = fake.base_url
    print(f"启动中：假微信 {fake.base_url}，机器人（{args.mode} 模式）… 日志在 var/logs/")
    try:
        with BotProcesses(env, web_workers=args.workers) as bot:
            fake.bot_url = bot.callback_url
            return run_chat(fake, openid=args.user, agent=args.agent)
    finally:
        fake.stop()


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
    parser.set_defaults(func=run)
