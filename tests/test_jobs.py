"""bot.jobs: outbound calls go through the RQ queue and the worker, with WeChat's failures handled."""
from __future__ import annotations

import pytest
from rq import SimpleWorker
from rq.job import JobStatus

from bot import jobs
from bot.jobs import Outbox
from bot.sim.fake_wechat import FakeWeChat
from bot.storage import Storage
from tests.helpers import APP_ID, APP_SECRET, bot_settings

USER = "oJobsUser0000000000000000001"


@pytest.fixture
def setup(redis_server, redis_client):
    with FakeWeChat(app_id=APP_ID, app_secret=APP_SECRET) as fake:
        settings = bot_settings(redis_server.url, WECHAT_API_BASE_URL=fake.base_url)
        jobs.configure(settings, redis_client)
        outbox = Outbox(redis_client, settings.BOT_QUEUE_NAME)
        worker = SimpleWorker([outbox.queue], connection=redis_client)
        yield fake, outbox, worker, Storage(redis_client, settings.BOT_REDIS_PREFIX)


def drain(worker):
    worker.work(burst=True, max_jobs=20)


def user_wrote(fake, storage, openid=USER):
    """The user messaged the account: WeChat opens its allowance, and so does the bot's count."""
    fake.user_says(openid, "你好")
    storage.open_budget(openid, "message")


def test_text_is_sent_by_the_worker_not_the_caller(setup):
    fake, outbox, worker, storage = setup
    user_wrote(fake, storage)
    job = outbox.send_text(USER, "已为您转接人工客服", purpose="handoff")
    assert fake.sent_to(USER) == []          # enqueued only
    drain(worker)
    assert fake.sent_to(USER)[0]["content"] == "已为您转接人工客服"
    assert job.get_status(refresh=True) == JobStatus.FINISHED


def test_as_agent(setup):
    fake, outbox, worker, storage = setup
    fake.add_agent("kf1001@demo_wallet_official", "小王")
    user_wrote(fake, storage)
    outbox.send_text(USER, "我是客服小王", kf_account="kf1001@demo_wallet_official")
    drain(worker)
    assert fake.sent_to(USER)[0]["kf_account"] == "kf1001@demo_wallet_official"


@pytest.mark.parametrize("errcode,reason", [(45015, "outside_window"), (45047, "quota_exhausted")])
def test_final_refusals_are_recorded_not_retried(setup, errcode, reason):
    fake, outbox, worker, storage = setup
    user_wrote(fake, storage)
    fake.inject("/message/custom/send", errcode=errcode)
    job = outbox.send_text(USER, "通知")
    drain(worker)
    assert job.get_status(refresh=True) == JobStatus.FINISHED
    assert job.return_value()["status"] == reason
    undelivered = storage.undelivered()
    assert undelivered[0]["reason"] == reason and undelivered[0]["message"]["text"]["content"] == "通知"
    assert sum(1 for c in fake.calls if c["path"].endswith("/custom/send")) == 1


def test_window_closed_for_real(setup):
    fake, outbox, worker, storage = setup
    fake.add_user(USER)  # follows but never wrote: WeChat has no window (the bot's count thinks it has)
    storage.open_budget(USER, "message")
    outbox.send_text(USER, "通知")
    drain(worker)
    assert storage.undelivered()[0]["reason"] == "outside_window"


def test_server_errors_are_retried_with_backoff(setup):
    fake, outbox, worker, storage = setup
    user_wrote(fake, storage)
    fake.inject("/message/custom/send", http_status=502)
    job = outbox.send_text(USER, "通知")
    drain(worker)
    job.refresh()
    assert job.get_status() == JobStatus.SCHEDULED  # waiting for its retry, not lost
    assert job.retries_left == jobs.RETRY.max - 1
    assert fake.sent_to(USER) == []


def test_kf_calls_go_through_the_queue(setup):
    fake, outbox, worker, _ = setup
    fake.add_agent("kf1001@demo_wallet_official", "小王")
    job = outbox.kf_call("get_online_accounts")
    drain(worker)
    assert job.return_value()[0]["kf_account"] == "kf1001@demo_wallet_official"


def test_allowance_is_never_exceeded_and_surveys_leave_one_for_urgent_messages(setup):
    fake, outbox, worker, storage = setup
    user_wrote(fake, storage)
    for i in range(4):
        outbox.send_text(USER, f"通知{i}", purpose="handoff")
    survey = outbox.send_text(USER, "请打分", purpose="survey")
    drain(worker)
    assert survey.return_value()["status"] == "budget"          # one left, kept for something urgent
    last = outbox.send_text(USER, "工单回复", purpose="ticket_reply")
    extra = outbox.send_text(USER, "多余的", purpose="handoff")
    drain(worker)
    assert last.return_value()["status"] == "sent"
    assert extra.return_value()["status"] == "budget"
    assert [m["content"] for m in fake.sent_to(USER)] == ["通知0", "通知1", "通知2", "通知3", "工单回复"]
    assert not any(c["path"].endswith("/custom/send") and c["json"]["text"]["content"] == "多余的"
                   for c in fake.calls if c.get("json"))


def test_click_allowance_is_three_within_a_minute(setup):
    fake, outbox, worker, storage = setup
    fake.user_event(USER, "CLICK", key="MENU_HUMAN")
    storage.open_budget(USER, "event")
    jobs_ = [outbox.send_text(USER, f"n{i}", purpose="handoff") for i in range(4)]
    drain(worker)
    assert [j.return_value()["status"] for j in jobs_] == ["sent", "sent", "sent", "budget"]


def test_ticket_marked_when_window_closed(setup):
    fake, outbox, worker, storage = setup
    fake.add_user(USER)
    storage.open_budget(USER, "message")
    number = storage.create_ticket(USER, "我的提现三天没到账")
    outbox.send_text(USER, "客服已上线", purpose="ticket", ticket=number)
    drain(worker)
    assert storage.get_ticket(number)["status"] == "outside_window"


@pytest.mark.parametrize("fault", [{"errcode": 45009}, {"delay": 2.0}, {"http_status": 503}])
def test_quota_timeouts_and_5xx_are_kept_for_a_later_retry(redis_server, redis_client, fault):
    with FakeWeChat(app_id=APP_ID, app_secret=APP_SECRET) as fake:
        settings = bot_settings(redis_server.url, WECHAT_API_BASE_URL=fake.base_url, BOT_API_TIMEOUT=0.5)
        jobs.configure(settings, redis_client)
        storage = Storage(redis_client, settings.BOT_REDIS_PREFIX)
        outbox = Outbox(redis_client, settings.BOT_QUEUE_NAME)
        user_wrote(fake, storage)
        assert jobs.runtime().client.access_token                   # fetched before the fault
        fake.inject("/message/custom/send", **fault)
        job = outbox.send_text(USER, "通知", purpose="handoff")
        drain(SimpleWorker([outbox.queue], connection=redis_client))
        job.refresh()
        assert job.get_status() == JobStatus.SCHEDULED and job.retries_left == jobs.RETRY.max - 1
        assert storage.undelivered() == []


def test_jobs_running_when_the_worker_lost_redis_go_back_to_the_queue(setup):
    """A failover in the middle of a job leaves it "started" for a worker that is gone; the worker's
    next life gives it back at once (retried, or failed when it has no retries left), and leaves
    another worker's running job alone."""
    import uuid

    from rq import Queue, Retry

    from bot.commands.worker import requeue_abandoned

    fake, outbox, worker, storage = setup
    queue = Queue(f"lost-redis-{uuid.uuid4().hex[:8]}", connection=storage.redis)
    mine = queue.enqueue(jobs.call_customservice, "get_accounts", (), {}, retry=Retry(max=2))
    last_try = queue.enqueue(jobs.call_customservice, "get_accounts", (), {})
    theirs = queue.enqueue(jobs.call_customservice, "get_accounts", (), {}, retry=Retry(max=2))
    me, other = SimpleWorker([queue], connection=storage.redis), SimpleWorker([queue], connection=storage.redis)
    for runner, job in ((me, mine), (me, last_try), (other, theirs)):   # what RQ does as a job starts
        queue.remove(job)
        runner.prepare_execution(job)
        runner.prepare_job_execution(job)
    assert {j.get_status() for j in (mine, last_try, theirs)} == {JobStatus.STARTED}
    me.register_death()                                                  # as RQ does when work() gives up

    assert requeue_abandoned(queue, me.name) == 2
    assert mine.get_status() == JobStatus.QUEUED and mine.id in queue.job_ids
    mine.refresh()
    assert mine.retries_left == 1                                    # a retry spent, as for any failure
    assert last_try.get_status() == JobStatus.FAILED
    assert theirs.get_status() == JobStatus.STARTED and theirs.id not in queue.job_ids
    assert queue.started_job_registry.get_job_ids() == [theirs.id]
    assert requeue_abandoned(queue, me.name) == 0                       # once


def test_a_retried_job_takes_back_the_mailbox_lock_it_left(setup):
    fake, outbox, worker, storage = setup
    assert storage.lock_mailbox(USER, "job-1", 60)
    assert not storage.lock_mailbox(USER, "job-2", 60)       # another job waits
    assert storage.lock_mailbox(USER, "job-1", 60)           # the same job, retried, goes on
    storage.unlock_mailbox(USER, "job-2")                    # not its lock: nothing happens
    assert not storage.lock_mailbox(USER, "job-2", 60)
    storage.unlock_mailbox(USER, "job-1")
    assert storage.lock_mailbox(USER, "job-2", 60)
    storage.unlock_mailbox(USER, "job-2")


def test_the_worker_starts_again_when_rq_gives_up_after_a_redis_error(redis_server, monkeypatch):
    """RQ's work() returns, instead of raising, when Redis fails in the middle of a job: the
    worker command must not take that for the end and exit (no notice would go out again)."""
    import argparse

    from datetime import datetime, timezone

    import rq

    from bot import handoff
    from bot.commands import worker as worker_command

    class Idle:
        def __init__(self, *args, **kwargs): pass
        def start(self): pass
        def stop(self): pass

    lives, requeued = [], []

    def work(self, **kwargs):
        lives.append(self.name)
        if len(lives) == 2:                   # the second life is stopped on request (SIGTERM): RQ's
            self._shutdown_requested_date = datetime.now(timezone.utc)   # handler notes when, and
            return False                      # work() ends by StopRequested when idle, the flag unset
        return False                          # the first ended as RQ ends on a mid-job error

    monkeypatch.setattr(handoff, "AgentRefresher", Idle)
    monkeypatch.setattr(rq.SimpleWorker, "work", work)
    monkeypatch.setattr(worker_command, "requeue_abandoned", lambda queue, name: requeued.append(name) or 0)
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    assert worker_command.run(argparse.Namespace(burst=False)) == 0
    assert len(lives) == 2 and requeued == [lives[0]]
