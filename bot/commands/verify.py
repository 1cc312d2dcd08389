"""`python -m bot verify report|check|registry`: official-contact verification, for staff.

- `report`: the non-official contacts (numbers, sites, agent numbers…) users were
  contacted by, most reported first, for the security team. Identifiers are the
  scammers' contacts and are printed in full; users appear only as masked openids.
- `check "text"`: what the bot would answer to one message (scam signals, verdicts, reply).
- `registry`: validate config/official_channels.json and list what it makes official.
"""
from __future__ import annotations

import json
import time


def _print_json(data) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def report(args) -> int:
    from bot.redis_server import open_storage

    rows = open_storage()[1].top_reported(args.top)
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("no non-official contacts reported yet")
        return 0
    print(f"{'reports':>7}  {'kind':<9}  {'status':<12}  {'last seen':<16}  identifier")
    for row in rows:
        seen = time.strftime("%Y-%m-%d %H:%M", time.localtime(row["last_seen"])) if row["last_seen"] else "-"
        like = f"  (imitates {row['lookalike_of']})" if row["lookalike_of"] else ""
        print(f"{row['count']:>7}  {row['kind']:<9}  {row['status'] or '-':<12}  {seen:<16}  {row['identifier']}{like}")
    return 0


def check(args) -> int:
    from bot import scam, sensitive, verifier
    from bot.router import build_router, default_prechecks
    from config.settings import Settings

    settings = Settings.from_env()
    router = build_router(settings, prechecks=default_prechecks(settings))
    reading = router.read(args.text)
    result = scam.detect(args.text)
    decision = router.route(args.text)[0]
    _print_json({
        "model": {"scam": round(reading.prob("scam"), 4), "victim": round(reading.prob("victim"), 4),
                  "top": reading.top},
        "signals": {"groups": dict(result.groups), "names": list(result.signals)},
        "identifiers": [{"kind": i.kind, "value": i.value} for i in verifier.extract(args.text)],
        "sensitive": list(sensitive.found(args.text)),
        "decision": decision.to_json(),
    })
    return 0


def registry(args) -> int:
    from bot.channels import RegistryError, load_registry
    from config.settings import Settings

    settings = Settings.from_env()
    try:
        loaded = load_registry(settings.BOT_CHANNELS_FILE, settings.BOT_BRAND_FILE)
    except RegistryError as exc:
        print(f"invalid: {exc}")
        return 1
    print(f"ok: {loaded.source} (version {loaded.version})")
    for name, table in (("phones", loaded.phones), ("domains", loaded.domains), ("emails", loaded.emails),
                        ("email domains", loaded.email_domains), ("wechat ids", loaded.wechat_ids),
                        ("qq numbers", loaded.qq_numbers)):
        print(f"  {name}: " + (", ".join(f"{c.display} ({c.label})" for c in table.values()) or "-"))
    print("  agents: " + ", ".join(f"{a.id} {a.status}" + (f" {a.revoked_on}" if a.revoked_on else "")
                                  for a in loaded.agents.values()))
    if loaded.merged_from_brand:
        print("  added from brand.json: " + ", ".join(loaded.merged_from_brand))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("verify", help="official-contact verification: report, check, registry")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("report", help="non-official contacts users asked about, most reported first")
    p.add_argument("--top", type=int, default=20, help="how many rows (default 20)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=report)
    p = actions.add_parser("check", help="what the bot would answer to one message")
    p.add_argument("text")
    p.set_defaults(func=check)
    p = actions.add_parser("registry", help="validate the registry of official channels")
    p.set_defaults(func=registry)
