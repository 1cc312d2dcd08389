"""The registry of official channels: schema, brand merge, hot reload (bot.channels)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from bot.channels import RegistryError, load_registry, phone_key, registry_source
from bot.safety import make_prechecks
from config.settings import Settings

CONFIG = Path(__file__).resolve().parent.parent / "config"


@pytest.fixture
def files(tmp_path):
    """Writable copies of the real registry and brand file."""
    registry, brand = tmp_path / "official_channels.json", tmp_path / "brand.json"
    shutil.copy(CONFIG / "official_channels.json", registry)
    shutil.copy(CONFIG / "brand.json", brand)
    return registry, brand


def edit(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    write(path, json.dumps(data, ensure_ascii=False))


def write(path: Path, text: str) -> None:
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 10**9, before + 10**9))  # a visible mtime change even on coarse clocks


def test_the_shipped_registry_holds_the_demo_entries():
    registry = load_registry(CONFIG / "official_channels.json", CONFIG / "brand.json")
    assert {a.id: a.status for a in registry.agents.values()} == {
        "KF1001": "active", "KF1002": "active", "KF1003": "active", "KF1004": "active", "KF1005": "active",
        "KF0999": "revoked"}
    assert registry.agents[999].revoked_on
    assert "4008886688" in registry.phones
    assert registry.find_domain("help.wallet.example.com").value == "wallet.example.com"
    assert registry.find_domain("wallet.example.com.evil.cn") is None
    assert "support@wallet.example.com" in registry.emails
    assert registry.find_email_domain("wallet.example.com") is not None
    assert "demo_wallet_official" in registry.wechat_ids
    assert registry.merged_from_brand == ()  # the file already lists every brand fact


@pytest.mark.parametrize("written, key", [
    ("400-888-6688", "4008886688"), ("+86 400 888 6688", "4008886688"), ("0086-138-1234-5678", "13812345678"),
    ("86 13812345678", "13812345678"), ("010-12345678", "01012345678"), ("96110", "96110"),
])
def test_phone_key_drops_separators_and_country_prefix(written, key):
    assert phone_key(written) == key


def test_brand_facts_are_official_even_when_the_registry_forgets_them(files):
    registry_file, brand_file = files
    edit(registry_file, lambda d: d.update(phones=[], wechat_ids=[]))
    edit(brand_file, lambda d: d.update(hotline="400-111-2222"))
    registry = load_registry(registry_file, brand_file)
    assert registry.phones["4001112222"].display == "400-111-2222"
    assert "demo_wallet_official" in registry.wechat_ids
    assert any("400-111-2222" in m for m in registry.merged_from_brand)


@pytest.mark.parametrize("change, message", [
    (lambda d: d["agents"].append({"id": "KF0998", "status": "revoked"}), "revoked_on"),
    (lambda d: d["agents"].append({"id": "1234", "status": "active"}), "does not match"),
    (lambda d: d["agents"].append({"id": "KF1007", "status": "retired"}), "is not one of"),
    (lambda d: d["agents"].append({"id": "KF1001", "status": "active"}), "listed twice"),
    (lambda d: d["agents"].append({"id": "KF01001", "status": "active"}), "listed twice"),
    (lambda d: d["phones"].append({"number": "+86 400 888 6688", "label": "again"}), "listed twice"),
    (lambda d: d["domains"].append({"domain": "https://x.example.com", "label": "bad"}), "does not match"),
    (lambda d: d.update(surprise=True), "Additional properties"),
    (lambda d: d.pop("agents"), "'agents' is a required property"),
])
def test_invalid_registries_are_refused_with_the_reason(files, change, message):
    registry_file, brand_file = files
    edit(registry_file, change)
    with pytest.raises(RegistryError, match=message):
        load_registry(registry_file, brand_file)


def test_unreadable_files_are_refused(files, tmp_path):
    registry_file, brand_file = files
    write(registry_file, '{"version": 1,')
    with pytest.raises(RegistryError, match="not valid JSON"):
        load_registry(registry_file, brand_file)
    with pytest.raises(RegistryError, match="cannot read"):
        load_registry(tmp_path / "missing.json", brand_file)
    shutil.copy(CONFIG / "official_channels.json", registry_file)
    edit(brand_file, lambda d: d.pop("anti_fraud_hotline"))
    with pytest.raises(RegistryError, match="anti_fraud_hotline"):
        load_registry(registry_file, brand_file)


def settings_for(files) -> Settings:
    registry_file, brand_file = files
    return Settings(BOT_CHANNELS_FILE=str(registry_file), BOT_BRAND_FILE=str(brand_file), BOT_RELOAD_INTERVAL=0)


def test_edits_are_picked_up_and_a_bad_edit_keeps_the_last_good_registry(files):
    registry_file, _ = files
    source = registry_source(settings_for(files))
    assert 1006 not in source.get().agents

    edit(registry_file, lambda d: d["agents"].append({"id": "KF1006", "status": "active"}))
    assert source.get().agents[1006].status == "active"
    assert source.error is None

    write(registry_file, "{ broken")
    assert source.get().agents[1006].status == "active"  # still the last good version
    assert "not valid JSON" in source.error

    edit_text = (CONFIG / "official_channels.json").read_text(encoding="utf-8")
    write(registry_file, edit_text)
    assert 1006 not in source.get().agents
    assert source.error is None


def test_a_brand_edit_reloads_the_registry_too(files):
    _, brand_file = files
    source = registry_source(settings_for(files))
    edit(brand_file, lambda d: d.update(hotline="400-111-2222"))
    assert "4001112222" in source.get().phones


def test_prechecks_answer_from_the_edited_registry_without_a_restart(files):
    registry_file, _ = files
    _, verify_check = make_prechecks(settings_for(files))
    assert verify_check("KF1006是你们客服吗").verdicts[0]["status"] == "not_official"
    edit(registry_file, lambda d: d["agents"].append({"id": "KF1006", "status": "active"}))
    assert verify_check("KF1006是你们客服吗").verdicts[0]["status"] == "official"


def test_the_bot_refuses_to_start_with_an_invalid_registry(files):
    registry_file, _ = files
    write(registry_file, "[]")
    with pytest.raises(RegistryError):
        registry_source(settings_for(files))
