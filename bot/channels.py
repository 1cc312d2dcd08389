"""The registry of official channels: loading, validation, hot reload.

`config/official_channels.json` (documented in config/README.md) lists every
phone number, website, email, WeChat ID, QQ number and agent number the brand
really uses. `load_registry()` checks it against its JSON Schema, merges the
brand facts of `config/brand.json` (the hotline, website, email and official
account there are always official) and returns a `Registry` whose lookups use
canonical keys (`phone_key`, `agent_number`). `registry_source(settings)` wraps
the loader in a `bot.reloader.ReloadingSource`, so staff edits apply without a
restart and a bad edit keeps the last good registry.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import jsonschema

from bot.reloader import ReloadingSource

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "config" / "official_channels.schema.json"

# Labels for the brand facts merged from brand.json when the registry does not list them.
_BRAND_LABELS = {
    "hotline": "官方客服热线",
    "website": "官方网站",
    "email": "官方客服邮箱",
    "official_account": "官方公众号",
}

# Brand facts the replies need (brand.json must have them).
_BRAND_KEYS = ("brand_name", "hotline", "website", "anti_fraud_hotline", "police")

_NON_DIGITS = re.compile(r"\D+")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_SERVICE = re.compile(r"[48]00\d{7}")


class RegistryError(ValueError):
    """The registry file is missing, not JSON, or breaks the schema or a rule."""


def phone_key(number: str) -> str:
    """Digits only, without the +86 / 0086 / 86 country prefix: the form numbers are compared in."""
    digits = _NON_DIGITS.sub("", number)
    for prefix in ("0086", "86"):
        rest = digits[len(prefix):]
        if digits.startswith(prefix) and (_MOBILE.fullmatch(rest) or _SERVICE.fullmatch(rest)):
            return rest
    return digits


def agent_number(digits: str) -> int:
    """Agent numbers compare by value, so 工号999 and KF0999 are the same agent."""
    return int(digits)


@dataclass(frozen=True)
class Channel:
    value: str            # canonical: digits for phones, lowercase otherwise
    label: str
    display: str          # as staff wrote it, for replies
    public_service: bool = False  # genuine but not ours (96110)


@dataclass(frozen=True)
class Agent:
    id: str
    status: str           # "active" | "revoked"
    revoked_on: str | None = None


@dataclass(frozen=True)
class Registry:
    brand: Mapping[str, str]
    phones: Mapping[str, Channel]
    domains: Mapping[str, Channel]
    subdomains: frozenset[str]
    emails: Mapping[str, Channel]
    email_domains: Mapping[str, Channel]
    wechat_ids: Mapping[str, Channel]
    qq_numbers: Mapping[str, Channel]
    #: Official Telegram handles, lower case without "@" (none for most brands).
    telegram: Mapping[str, Channel]
    agents: Mapping[int, Agent]
    version: int = 1
    source: str = ""
    #: brand facts the registry file did not list (merged in), for `verify registry`.
    merged_from_brand: tuple[str, ...] = field(default=())
    #: Display names of the official accounts ("示例钱包"), from the wechat_ids entries that give one.
    account_names: Mapping[str, Channel] = field(default_factory=dict)

    def find_domain(self, host: str) -> Channel | None:
        """The official domain `host` is or belongs to (subdomains where allowed)."""
        if host in self.domains:
            return self.domains[host]
        for domain in self.subdomains:
            if host.endswith("." + domain):
                return self.domains[domain]
        return None

    def find_email_domain(self, domain: str) -> Channel | None:
        for official, channel in self.email_domains.items():
            if domain == official or domain.endswith("." + official):
                return channel
        return None

    def active_agents(self) -> list[Agent]:
        return [a for a in self.agents.values() if a.status == "active"]

    def own(self, channels: Mapping[str, Channel]) -> list[Channel]:
        """The brand's own entries of one kind (public-service numbers left out)."""
        return [c for c in channels.values() if not c.public_service]


def _read_json(path: Path, what: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise RegistryError(f"{what} {path}: cannot read: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise RegistryError(f"{what} {path}: not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from exc


def _validator() -> jsonschema.Draft202012Validator:
    with open(SCHEMA_FILE, encoding="utf-8") as f:
        return jsonschema.Draft202012Validator(json.load(f))


def validate(data: object) -> list[str]:
    """Every schema and rule problem of a parsed registry, as readable lines (empty = valid)."""
    problems = []
    for error in sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        problems.append(f"{where}: {error.message}")
    if problems or not isinstance(data, dict):
        return problems
    seen: dict[object, str] = {}
    keyed = [(("agent", agent_number(a["id"][2:])), a["id"]) for a in data["agents"]]
    keyed += [(("phone", phone_key(p["number"])), p["number"]) for p in data["phones"]]
    for key, shown in keyed:
        if key in seen:
            problems.append(f"{key[0]} {shown} is listed twice (also as {seen[key]})")
        seen[key] = shown
    for phone in data["phones"]:
        if len(phone_key(phone["number"])) < 5:
            problems.append(f"phones: {phone['number']} has fewer than 5 digits")
    return problems


def _channels(entries: list[dict], key_field: str, canonical) -> dict[str, Channel]:
    out = {}
    for entry in entries:
        value = canonical(entry[key_field])
        out[value] = Channel(value, entry["label"], entry[key_field], entry.get("public_service", False))
    return out


def load_registry(path: str | Path, brand_path: str | Path) -> Registry:
    """Read, validate and merge the registry with the brand facts; raise RegistryError if invalid."""
    path, brand_path = Path(path), Path(brand_path)
    data = _read_json(path, "registry")
    problems = validate(data)
    if problems:
        raise RegistryError(f"registry {path}: " + "; ".join(problems))
    brand = _read_json(brand_path, "brand file")
    missing = [k for k in _BRAND_KEYS if not isinstance(brand, dict) or not str(brand.get(k) or "").strip()]
    if missing:
        raise RegistryError(f"brand file {brand_path}: missing {', '.join(missing)}")

    phones = _channels(data["phones"], "number", phone_key)
    domains = _channels(data["domains"], "domain", str.lower)
    emails = _channels(data["emails"], "address", str.lower)
    wechat_ids = _channels(data["wechat_ids"], "id", str.lower)
    account_names = {}
    for entry in data["wechat_ids"]:   # shown by the name users see in WeChat, with the id to search
        if entry.get("name"):
            value, shown = entry["id"].lower(), f"{entry['name']}（{entry['id']}）"
            wechat_ids[value] = Channel(value, entry["label"], shown)
            account_names[entry["name"]] = Channel(entry["name"], entry["label"], shown)
    subdomains = {d["domain"] for d in data["domains"] if d.get("subdomains", True)}

    merged = []
    for fact, (table, canonical) in {
        "hotline": (phones, phone_key),
        "website": (domains, str.lower),
        "email": (emails, str.lower),
        "official_account": (wechat_ids, str.lower),
    }.items():
        value = str(brand.get(fact) or "").strip()
        if value and canonical(value) not in table:
            table[canonical(value)] = Channel(canonical(value), _BRAND_LABELS[fact], value)
            merged.append(f"{fact} {value}")
            if fact == "website":
                subdomains.add(canonical(value))

    agents = {}
    for entry in data["agents"]:
        agents[agent_number(entry["id"][2:])] = Agent(entry["id"], entry["status"], entry.get("revoked_on"))

    return Registry(
        brand=MappingProxyType({k: str(v) for k, v in brand.items()}),
        phones=MappingProxyType(phones),
        domains=MappingProxyType(domains),
        subdomains=frozenset(subdomains),
        emails=MappingProxyType(emails),
        email_domains=MappingProxyType(_channels(data["email_domains"], "domain", str.lower)),
        wechat_ids=MappingProxyType(wechat_ids),
        qq_numbers=MappingProxyType(_channels(data["qq_numbers"], "number", str)),
        telegram=MappingProxyType(_channels(data.get("telegram", []), "handle", str.lower)),
        agents=MappingProxyType(agents),
        version=data["version"],
        source=str(path),
        merged_from_brand=tuple(merged),
        account_names=MappingProxyType(account_names),
    )


def registry_source(settings) -> ReloadingSource[Registry]:
    """A hot-reloading registry for these settings (watches the registry and brand.json)."""
    path, brand_path = Path(settings.BOT_CHANNELS_FILE), Path(settings.BOT_BRAND_FILE)
    return ReloadingSource(
        list_files=lambda: (path, brand_path),
        load=lambda: load_registry(path, brand_path),
        interval=settings.BOT_RELOAD_INTERVAL,
        name="official channels",
    )
