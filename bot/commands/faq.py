"""`python -m bot faq …`: staff tools for the FAQ corpus.

    python -m bot faq check              validate every file; exit 1 if there are errors
    python -m bot faq try "提现失败"       top candidates with scores and why, and the route taken
    python -m bot faq unmatched --top 20  the most frequent unmatched messages (masked), from Redis

`--dir` and `--brand` default to BOT_FAQ_DIR and BOT_BRAND_FILE.
"""
from __future__ import annotations

from config.settings import Settings


def register(subparsers) -> None:
    parser = subparsers.add_parser("faq", help="check, try and improve the FAQ corpus")
    commands = parser.add_subparsers(dest="faq_command", metavar="ACTION", required=True)

    check = commands.add_parser("check", help="validate the corpus files (non-zero exit on errors)")
    _paths(check)
    check.set_defaults(func=run_check)

    attempt = commands.add_parser("try", help="show how a message matches: candidates, scores, reasons")
    attempt.add_argument("text", help="a user message")
    attempt.add_argument("--top", type=int, default=5, help="how many candidates (default 5)")
    _paths(attempt)
    attempt.set_defaults(func=run_try)

    unmatched = commands.add_parser("unmatched", help="the most frequent messages nothing matched")
    unmatched.add_argument("--top", type=int, default=20, help="how many (default 20)")
    unmatched.set_defaults(func=run_unmatched)


def _paths(parser) -> None:
    parser.add_argument("--dir", help="FAQ directory (default: BOT_FAQ_DIR)")
    parser.add_argument("--brand", help="brand file (default: BOT_BRAND_FILE)")


def _settings(args) -> Settings:
    overrides = {}
    if getattr(args, "dir", None):
        overrides["BOT_FAQ_DIR"] = args.dir
    if getattr(args, "brand", None):
        overrides["BOT_BRAND_FILE"] = args.brand
    return Settings.from_env(**overrides)


def run_check(args) -> int:
    from bot.faq import ERROR, check, corpus_files, load_corpus

    settings = _settings(args)
    problems = check(settings.BOT_FAQ_DIR, settings.BOT_BRAND_FILE)
    errors = [p for p in problems if p.severity == ERROR]
    for problem in sorted(problems, key=lambda p: p.severity != ERROR):
        print(problem)
    files = len(corpus_files(settings.BOT_FAQ_DIR))
    if errors:
        print(f"\n{len(errors)} 个错误，{len(problems) - len(errors)} 个警告（{files} 个文件）。"
              "有错误的问答不会生效；机器人运行中会继续使用上一次正确的版本。")
        return 1
    entries = len(load_corpus(settings.BOT_FAQ_DIR, settings.BOT_BRAND_FILE))
    if problems:
        print()
    print(f"检查通过：{files} 个文件，{entries} 条问答，{len(problems)} 个警告。")
    return 0


def run_try(args) -> int:
    from bot.normalize import normalize, pinyin_tokens
    from bot.router import build_router, default_prechecks

    settings = _settings(args)
    router = build_router(settings, prechecks=default_prechecks(settings))
    corpus = router.source.get()
    canonical = corpus.matcher.canonical(args.text)
    print(f"消息：{args.text}")
    print(f"归一化：{normalize(args.text)}  →  同义词替换后：{canonical}")
    print(f"拼音：{' '.join(pinyin_tokens(canonical))}")
    candidates = corpus.match(args.text, limit=args.top)
    if not candidates:
        print("\n没有匹配到任何问答。")
    for rank, candidate in enumerate(candidates, 1):
        print(f"\n{rank}. {candidate.faq_id}  {candidate.score:.1f} 分  {candidate.question}")
        print(f"   原因：{'，'.join(candidate.reasons)}")
    decision, _ = router.route(args.text)
    target = f"（{decision.faq_id}）" if decision.faq_id else ""
    print(f"\n机器人会：{decision.route}{target}")
    print("回复：" + decision.reply.replace("\n", "\n      "))
    return 0


def run_unmatched(args) -> int:
    from bot.redis_server import open_storage

    rows = open_storage()[1].top_unmatched(args.top)
    if not rows:
        print("还没有记录到未匹配的消息。")
        return 0
    print(f"最常见的 {len(rows)} 条未匹配消息（已脱敏）：")
    width = len(str(rows[0][1]))
    for text, count in rows:
        print(f"{count:>{width}} 次  {text}")
    return 0
