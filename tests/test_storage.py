"""bot.storage against a real Redis server."""
import threading
import time

from bot.decision import Conversation


def test_nonce_is_remembered_once(storage):
    assert storage.remember_nonce("n1", 60)
    assert not storage.remember_nonce("n1", 60)
    assert 0 < storage.redis.ttl(storage.key("nonce", "n1")) <= 60


def test_claim_store_and_wait(storage):
    assert storage.claim_message("msg:1")
    assert not storage.claim_message("msg:1")
    assert storage.get_reply("msg:1") == b"pending"

    def later():
        time.sleep(0.2)
        storage.store_reply("msg:1", "<xml>回复</xml>".encode(), "application/xml")

    threading.Thread(target=later).start()
    assert storage.wait_reply("msg:1", timeout=3) == ("<xml>回复</xml>".encode(), "application/xml")
    assert storage.wait_reply("msg:unknown", timeout=0.1) is None


def test_wait_is_bounded(storage):
    storage.claim_message("msg:2")
    started = time.monotonic()
    assert storage.wait_reply("msg:2", timeout=0.3) is None
    assert time.monotonic() - started < 2


def test_conversation_round_trip_and_ttl(storage):
    assert storage.load_conversation("oU") == Conversation()
    conv = Conversation(pending_choices=("a", "b"), choices_at=5.0, fallbacks_in_row=1, human_offered=True)
    storage.save_conversation("oU", conv)
    assert storage.load_conversation("oU") == conv
    assert storage.redis.ttl(storage.key("conv", "oU")) > 0


def test_kf_session_state_and_clear_user(storage):
    storage.set_kf_session("oU", "active", "kf1001@demo")
    session = storage.get_kf_session("oU")
    assert session["state"] == "active" and session["account"] == "kf1001@demo"
    assert 1700 < storage.redis.ttl(storage.key("kf", "oU")) <= 1800
    storage.save_conversation("oU", Conversation(fallbacks_in_row=1))
    storage.mark_priority("oU", "scam_alert")
    storage.clear_user("oU")
    assert storage.get_kf_session("oU") is None
    assert storage.load_conversation("oU") == Conversation()
    assert storage.priority_reason("oU") is None


def test_unmatched_counts(storage):
    for text in ("a", "b", "a"):
        storage.count_unmatched(text)
    assert storage.top_unmatched(5) == [("a", 2), ("b", 1)]


def test_every_key_has_the_prefix(storage):
    storage.remember_nonce("x", 10)
    storage.claim_message("msg:9")
    storage.save_conversation("oU", Conversation())
    storage.count_handled("faq")
    assert all(k.startswith(b"test:") for k in storage.redis.keys("*"))
