"""bot.wechat against the fake WeChat: API base URL, one shared token, one refresh on token errors."""
from __future__ import annotations

import threading

import pytest
from wechatpy.exceptions import WeChatClientException

from bot.sim.fake_wechat import FakeWeChat
from bot.storage import Storage
from bot.wechat import SharedTokenClient
from tests.helpers import APP_ID, APP_SECRET

USER = "oClientUser00000000000000001"


@pytest.fixture
def fake():
    with FakeWeChat(app_id=APP_ID, app_secret=APP_SECRET) as fake:
        fake.user_says(USER, "你好")  # opens the 48-hour window (no bot URL: nothing is pushed)
        yield fake


def client_for(fake, storage, secret=APP_SECRET):
    return SharedTokenClient(APP_ID, secret, storage, api_base_url=fake.base_url, timeout=5)


def test_calls_reach_the_configured_base_url(fake, storage):
    client = client_for(fake, storage)
    client.message.send_text(USER, "您好")
    assert fake.sent_to(USER)[0]["content"] == "您好"
    assert {c["path"] for c in fake.calls} >= {"/cgi-bin/token", "/cgi-bin/message/custom/send"}


def test_token_is_shared_by_every_worker(fake, storage):
    clients = [client_for(fake, Storage(storage.redis, storage.prefix)) for _ in range(8)]
    barrier = threading.Barrier(len(clients))
    errors = []

    def work(client):
        try:
            barrier.wait(timeout=5)
            client.customservice.get_accounts()
        except Exception as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=15)
    assert not errors
    assert fake.token_fetches == 1


def test_token_is_renewed_before_wechats_deadline(fake, storage):
    client_for(fake, storage).customservice.get_accounts()
    ttl = storage.redis.ttl(f"{storage.token_prefix()}:{APP_ID}_access_token")
    assert 60 < ttl <= 7200 - 300


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
def test_token_error_refreshes_once_and_retries(fake, storage, errcode):
    client = client_for(fake, storage)
    client.customservice.get_accounts()
    fake.inject("/message/custom/send", errcode=errcode)
    client.message.send_text(USER, "第二条")
    assert fake.token_fetches == 2
    assert fake.sent_to(USER)[-1]["content"] == "第二条"


def test_expired_token_is_refreshed(fake, storage):
    client = client_for(fake, storage)
    client.customservice.get_accounts()
    fake.expire_tokens()
    client.message.send_text(USER, "过期后")
    assert fake.token_fetches == 2 and fake.sent_to(USER)[-1]["content"] == "过期后"


def test_token_error_that_persists_is_raised_not_looped(fake, storage):
    client = client_for(fake, storage)
    fake.inject("/message/custom/send", errcode=40001, times=50)
    with pytest.raises(WeChatClientException) as err:
        client.message.send_text(USER, "x")
    assert err.value.errcode == 40001
    assert sum(1 for c in fake.calls if c["path"].endswith("/message/custom/send")) == 2


def test_wrong_secret_fails_without_retry_storm(fake, storage):
    client = client_for(fake, storage, secret="wrong")
    with pytest.raises(WeChatClientException) as err:
        client.message.send_text(USER, "x")
    assert err.value.errcode == 40001
    assert fake.token_fetches <= 1 and sum(1 for c in fake.calls if c["path"] == "/cgi-bin/token") == 1


def test_other_errors_pass_through(fake, storage):
    client = client_for(fake, storage)
    with pytest.raises(WeChatClientException) as err:
        client.message.send_text("oNeverInteracted0000000000001", "x")
    assert err.value.errcode in (40003, 45015)
