"""`python -m bot faq …`: staff tools for the FAQ corpus.

    python -m bot faq check              validate every file and the examples; exit 1 if there are errors
    python -m bot faq try "提现失败"       top intents with probabilities, nearest examples, the route taken
    python -m bot faq eval FILE.jsonl     score the bot on labelled messages (by route, by style, confusions)
    python -m bot faq train               train the model for the corpus now (tools/setup.sh runs it)
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

    train = commands.add_parser("train", help="train the model for the corpus now (setup runs it; the bot loads it)")
    _paths(train)
    train.set_defaults(func=run_train)

    evaluate = commands.add_parser("eval", help="score the bot on a labelled JSON-lines file")
    evaluate.add_argument("file", help='JSON lines: {"text": …, "route": …, "faq_id": …, "style": …}; '
                                       'rows with the same "user" are one conversation, in order')
    evaluate.add_argument("--misses", type=int, default=0, help="also list this many misses")
    _paths(evaluate)
    evaluate.set_defaults(func=run_eval)

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
    files = len(corpus_files(settings.BOT_FAQ_DIR))
    if not errors:
        from bot.understanding.checks import example_problems

        problems += example_problems(load_corpus(settings.BOT_FAQ_DIR, settings.BOT_BRAND_FILE))
    for problem in sorted(problems, key=lambda p: p.severity != ERROR):
        print(problem)
    if errors:
        print(f"\n{len(errors)} 个错误，{len(problems) - len(errors)} 个警告（{files} 个文件）。"
              "有错误的问答不会生效；机器人运行中会继续使用上一次正确的版本。")
        return 1
    entries = len(load_corpus(settings.BOT_FAQ_DIR, settings.BOT_BRAND_FILE))
    if problems:
        print()
    print(f"检查通过：{files} 个文件，{entries} 条问答，{len(problems)} 个警告。")
    return 0


def _router(args):
    from bot.router import build_router, default_prechecks

    settings = _settings(args)
    return build_router(settings, prechecks=default_prechecks(settings))


def run_try(args) -> int:
    from bot.normalize import normalize
    from bot.understanding.text import syllables

    router = _router(args)
    corpus = router.source.get()
    model = corpus.model
    reading = router.read(args.text)
    vector = reading.vector if reading.vector is not None else model.embed(args.text)
    print(f"消息：{args.text}")
    print(f"归一化：{normalize(args.text)}    拼音：{' '.join(syllables(args.text))}")
    how = "字符/拼音分类器 + 句向量" if reading.embedded else "字符/拼音分类器（足够确定，未算句向量）"
    print(f"判断方式：{how}")
    for rank, (label, prob) in enumerate(reading.ranked(limit=args.top), 1):
        title = corpus.question(label) if label in corpus else f"（{corpus.route_of(label)}）"
        print(f"\n{rank}. {label}  概率 {prob:.1%}  {title}")
        for text, _, similarity in model.nearest(vector, k=2, label=label):
            print(f"   最像的例句：{text}（相似度 {similarity:.2f}）")
    decision, _ = router.route(args.text)
    target = f"（{decision.faq_id}）" if decision.faq_id else ""
    print(f"\n机器人会：{decision.route}{target}")
    print("回复：" + decision.reply.replace("\n", "\n      "))
    return 0


def run_train(args) -> int:
    import os
    import time

    # Training embeds every new example: all cores here (a serving worker uses one thread).
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    from bot.faq import load_corpus

    settings = _settings(args)
    corpus = load_corpus(settings.BOT_FAQ_DIR, settings.BOT_BRAND_FILE)
    started = time.perf_counter()
    model = corpus.model
    print(f"模型就绪：{len(model.labels)} 个意图，{len(model.example_texts)} 条例句，"
          f"用时 {time.perf_counter() - started:.1f} 秒（新语料先训练并保存到 {settings.BOT_MODEL_DIR}，训练过的直接读取）。")
    return 0


def run_eval(args) -> int:
    from bot.understanding.evaluation import evaluate, read_rows

    try:
        rows = read_rows(args.file)
    except (OSError, ValueError) as exc:
        print(f"读不了 {args.file}：{exc}")
        return 2
    bad = [i for i, r in enumerate(rows, 1) if "text" not in r or "route" not in r
           or (r["route"] == "faq" and not r.get("faq_id"))]
    if bad:
        print(f"第 {bad[0]} 行缺少 text / route（FAQ 行还要 faq_id）")
        return 2
    from bot.understanding.evaluation import evaluate_safety

    router = _router(args)
    report = evaluate(router, rows)
    print("\n".join(report.lines()))
    if any("label" in r for r in rows):      # a safety set: scam alerts and verdicts too
        safety = evaluate_safety(router, rows)
        print("\n" + "\n".join(safety.lines()))
        misses = safety.misses
    else:
        misses = report.misses
    for text, want, got in misses[:args.misses]:
        print(f"  ✗ {want} → {got}: {text}")
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
