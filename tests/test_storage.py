"""bot.storage against a real Redis server."""
import threading
import time

from bot.decision import Conversation


def admit(storage, nonce="n1", key="msg:1", count=False, allowance=None, openid="oU", load_user=False,
          now=None, user_limit=30):
    return storage.admit_push(nonce=nonce, nonce_ttl=60, dedupe_key=key, claim_ttl=120, openid=openid,
                              count=count, allowance=allowance, load_user=load_user, now=now,
                              user_limit=user_limit)


def test_a_push_is_admitted_once_per_nonce_and_claimed_once(storage):
    first = admit(storage)
    assert first.nonce_new and first.claimed and first.counts is None
    assert 0 < storage.redis.ttl(storage.key("nonce", "n1")) <= 60
    replay = admit(storage)                                   # same nonce
    assert not replay.nonce_new
    retry = admit(storage, nonce="n2")                        # WeChat's retry: new nonce, same message
    assert retry.nonce_new and not retry.claimed
    assert storage.get_reply("msg:1") == b"pending"


def test_a_replayed_nonce_never_holds_a_claim(storage):
    admit(storage, nonce="n9", key="msg:a")
    assert not admit(storage, nonce="n9", key="msg:b").nonce_new
    assert storage.get_reply("msg:b") is None                 # the new message can still be handled


def test_admission_counts_and_opens_the_allowance(storage):
    a = admit(storage, nonce="c1", key="msg:c1", count=True, allowance="message")
    b = admit(storage, nonce="c2", key="msg:c2", count=True, allowance="message", openid="oOther")
    assert a.counts == (1, 1) and b.counts == (1, 2)
    assert storage.budget_left("oU") == 5


def test_a_retry_is_not_another_message(storage):
    """WeChat's retry of a push is not counted again, does not reopen a spent allowance, reads nothing."""
    first = admit(storage, nonce="r1", key="msg:r", count=True, allowance="message", load_user=True)
    assert first.counts == (1, 1) and first.user == (Conversation(), None)
    assert storage.spend_budget("oU")
    retry = admit(storage, nonce="r2", key="msg:r", count=True, allowance="message", load_user=True)
    assert not retry.claimed and retry.counts is None and retry.user is None
    assert storage.budget_left("oU") == 4
    assert admit(storage, nonce="r3", key="msg:r2", count=True).counts == (2, 2)


def test_admission_reads_the_user_it_claims_for(storage):
    storage.set_kf_session("oU", "active", "kf1001@demo")
    storage.save_conversation("oU", Conversation(fallbacks_in_row=1))
    conversation, session = admit(storage, load_user=True).user
    assert conversation.fallbacks_in_row == 1 and session["account"] == "kf1001@demo"
    assert admit(storage, nonce="n2", key="msg:2").user is None          # not asked for


def test_finish_sends_the_deferred_writes_with_the_reply(storage):
    admit(storage)
    writes = [lambda pipe: storage.save_turn("oU", Conversation(fallbacks_in_row=2), {"text": "x", "route": "faq"},
                                             pipe),
              lambda pipe: storage.count_unmatched("什么", pipe)]
    storage.finish_push("msg:1", b"<xml/>", "application/xml", 120, "faq", writes)
    assert storage.get_reply("msg:1") == (b"<xml/>", "application/xml")
    assert storage.load_conversation("oU").fallbacks_in_row == 2
    assert storage.history("oU")[0]["route"] == "faq" and storage.top_unmatched() == [("什么", 1)]
    for n in range(storage.HISTORY_LEN + 5):                            # the history stays capped
        storage.save_turn("oU", Conversation(), {"text": str(n)})
    assert len(storage.history("oU", 100)) == storage.HISTORY_LEN
    assert storage.history("oU", 1)[0]["text"] == str(storage.HISTORY_LEN + 4)


def test_finish_and_wait(storage):
    admit(storage)

    def later():
        time.sleep(0.2)
        storage.finish_push("msg:1", "<xml>回复</xml>".encode(), "application/xml", 120, "faq")

    threading.Thread(target=later).start()
    assert storage.wait_reply("msg:1", timeout=3) == ("<xml>回复</xml>".encode(), "application/xml")
    assert storage.wait_reply("msg:unknown", timeout=0.1) is None
    assert storage.handled_counts() == {"faq": 1}


def test_user_state_in_one_round_trip(storage):
    storage.set_kf_session("oU", "waiting")
    conversation, session = storage.load_user("oU")
    assert conversation == Conversation() and session["state"] == "waiting"
    storage.save_turn("oU", Conversation(fallbacks_in_row=1), {"text": "你好", "route": "greeting"})
    conversation, _ = storage.load_user("oU")
    assert conversation.fallbacks_in_row == 1
    assert storage.history("oU")[0]["route"] == "greeting"


def test_wait_is_bounded(storage):
    admit(storage, nonce="n2", key="msg:2")
    started = time.monotonic()
    assert storage.wait_reply("msg:2", timeout=0.3) is None
    assert time.monotonic() - started < 2


def test_conversation_round_trip_and_ttl(storage):
    assert storage.load_conversation("oU") == Conversation()
    conv = Conversation(pending_choices=("a", "b"), choices_at=5.0, fallbacks_in_row=1, human_offered=True)
    storage.save_conversation("oU", conv)
    assert storage.load_conversation("oU") == conv
    assert storage.redis.ttl(storage.key("conv", "oU")) > 0



def test_a_conversation_field_from_a_newer_release_is_left_out(storage):
    storage.redis.set(storage.key("conv", "oU"), '{"fallbacks_in_row": 1, "field_of_a_later_release": 3}')
    assert storage.load_conversation("oU") == Conversation(fallbacks_in_row=1)


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
    admit(storage, count=True, allowance="message")
    storage.finish_push("msg:1", b"x", "text/plain", 10, "faq")
    storage.save_turn("oU", Conversation(), {"text": "x"})
    storage.create_ticket("oU", "留言")
    assert all(k.startswith(b"test:") for k in storage.redis.keys("*"))


def test_clear_all_deletes_only_its_own_prefix(redis_client):
    from bot.storage import Storage

    mine, other = Storage(redis_client, prefix="demo[1]"), Storage(redis_client, prefix="demo11")
    for storage in (mine, other):
        storage.create_ticket("oUser", "text")
        storage.missed_pickup("oUser")
    assert mine.clear_all(batch=2) >= 4
    assert redis_client.keys("demo[[]1]:*") == [] and other.take_missed_pickups() == ["oUser"]
    assert other.open_tickets() and mine.take_missed_pickups() == []


def test_a_flood_across_a_minute_boundary_gets_one_allowance_and_one_notice(storage):
    """100 messages in 10 s, 5 s each side of a minute boundary (the script's clock is the caller's):
    a fixed minute window gave a second full allowance and a second notice here."""
    boundary = 1_700_000_040.0  # a whole minute
    assert boundary % 60 == 0
    counts = [admit(storage, nonce=f"f{n}", key=f"msg:f{n}", count=True, now=boundary - 5 + n * 0.1,
                    user_limit=30).counts[0] for n in range(100)]
    assert sum(c <= 30 for c in counts) == 30                 # one allowance: 30 in any minute
    assert counts.count(31) == 1                              # one "slow down" reply, then silence
    assert counts[:31] == list(range(1, 32)) and set(counts[31:]) == {32}
    # A minute after the first admitted message there is room again: one more, then a new notice.
    later = [admit(storage, nonce=f"g{n}", key=f"msg:g{n}", count=True, now=boundary + 55.05 + n * 0.01,
                   user_limit=30).counts[0] for n in range(3)]
    assert later == [30, 31, 32]
    assert storage.redis.zcard(storage.key("rate", "oU")) == 30


def test_the_window_slides(storage):
    """At a steady rate under the limit nobody is ever refused, however the minutes fall."""
    start = 1_700_000_000.0
    counts = [admit(storage, nonce=f"s{n}", key=f"msg:s{n}", count=True, now=start + n * 2.5,
                    user_limit=30).counts[0] for n in range(200)]
    assert max(counts) == 24                                  # 60 / 2.5 messages in any minute


def test_scripts_run_by_sha_and_survive_a_server_that_forgot_them(storage):
    """A restarted or newly promoted server has no scripts: NOSCRIPT is answered by loading the
    script, also inside the reply's pipeline, without running anything else in it twice."""
    storage.redis.config_resetstat()
    storage.redis.script_flush()
    assert admit(storage, count=True).claimed
    storage.redis.script_flush()
    writes = [lambda pipe: storage.save_turn("oU", Conversation(fallbacks_in_row=3), {"text": "x"}, pipe)]
    storage.finish_push("msg:1", b"<xml/>", "application/xml", 120, "faq", writes)
    assert storage.load_conversation("oU").fallbacks_in_row == 3
    assert len(storage.history("oU")) == 1 and storage.handled_counts() == {"faq": 1}
    storage.redis.script_flush()
    storage.open_budget("oU", "message")
    assert storage.spend_budget("oU")
    commands = storage.redis.info("commandstats")
    assert "cmdstat_eval" not in commands                    # never the script's text on a push


def test_the_end_of_a_text_push_is_one_command(storage):
    """Reply, route count, dialogue state and history entry: one EVALSHA, no pipeline."""
    admit(storage)
    storage.finish_push("msg:0", b"x", "text/plain", 120, "faq")  # the server has the script now
    storage.redis.config_resetstat()
    storage.finish_push("msg:1", b"<xml/>", "application/xml", 120, "faq",
                        turn=("oU", Conversation(fallbacks_in_row=1), {"text": "x", "route": "faq"}))
    stats = storage.redis.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 1
    assert sum(v["calls"] for k, v in stats.items() if k not in ("cmdstat_config|resetstat", "cmdstat_config")) == 7
    assert storage.get_reply("msg:1") == (b"<xml/>", "application/xml")
    assert storage.load_conversation("oU").fallbacks_in_row == 1 and storage.history("oU")[0]["text"] == "x"
    assert storage.handled_counts() == {"faq": 2}
