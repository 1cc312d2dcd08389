"""`python -m bot worker`: run the outbound queue (customer-service messages, kf calls)."""
from __future__ import annotations

import logging

#: RQ's worker TTL; its blocking dequeue waits this less 15 s for a job, and the dequeue
#: connection's socket timeout must outlast that wait (bot.redis_server.connect_queue_worker).
WORKER_TTL = 420


def run(args) -> int:
    import time

    import redis
    from rq import Queue, SimpleWorker

    from bot import jobs
    from bot.handoff import AgentRefresher
    from bot.app import configure_logging
    from bot.redis_server import connect, connect_queue_worker
    from config.settings import Settings

    settings = Settings.from_env()
    configure_logging(settings)
    jobs.configure(settings, connect(settings))          # the jobs: short deadlines, like the request path
    connection = connect_queue_worker(settings, WORKER_TTL)  # the dequeue: blocks while the queue is empty
    log = logging.getLogger(__name__)
    log.info("outbound worker on queue %s", settings.BOT_QUEUE_NAME)
    refresher = AgentRefresher(settings.BOT_AGENT_REFRESH)
    if not args.burst:
        refresher.start()
    try:
        while True:
            # SimpleWorker runs jobs in this process: one HTTP keep-alive session, no fork per message.
            worker = SimpleWorker([Queue(settings.BOT_QUEUE_NAME, connection=connection)], connection=connection,
                                  worker_ttl=WORKER_TTL)
            try:
                worker.work(with_scheduler=True, burst=args.burst, logging_level=settings.BOT_LOG_LEVEL)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if args.burst:
                    raise
                why = f"lost Redis ({type(exc).__name__})"
            else:
                if args.burst or worker._shutdown_requested_date is not None:  # set by RQ on SIGTERM/SIGINT
                    return 0
                # RQ ends work() instead of raising when Redis fails in the middle of a job.
                why = "the queue worker stopped on an error"
            # Redis restarted or failed over: the jobs are in Redis, so wait for it and go on.
            log.warning("%s; starting again in 1 s", why)
            time.sleep(1)
            _retry_when_back(lambda: requeue_abandoned(worker.queues[0], worker.name), log)
            # The last life's scheduler died with it, still holding the queue's scheduler lock (61 s, and
            # RQ tries for the lock again only every 10 min): release it, or retries wait that long.
            if getattr(worker, "scheduler", None) is not None:
                _retry_when_back(worker.scheduler.release_locks, log)
    finally:
        refresher.stop()


def requeue_abandoned(queue, worker_name: str) -> int:
    """Give back to the queue the jobs a worker of this process was running when it lost Redis.

    Their results could not be written, so RQ still has them as started; left alone, RQ would
    call them abandoned only when their heartbeat expires (minutes), and a user's notice would
    wait that long. Marked expired now, RQ's own cleanup retries each one (or fails it when it
    has no retries left). Returns how many it gave back."""
    from rq.executions import Execution

    connection, registry = queue.connection, queue.started_job_registry
    # The worker's own index of its executions is gone once RQ has registered its death; each
    # execution still names its worker.
    started = connection.zrange(registry.key, 0, -1)
    with connection.pipeline(transaction=False) as pipe:   # one round trip, however many are running
        for key in started:
            pipe.hget(Execution.from_composite_key(key.decode(), connection).key, "worker_name")
        owners = pipe.execute()
    running = [key for key, owner in zip(started, owners) if owner == worker_name.encode()]
    if not running:
        return 0
    connection.zadd(registry.key, {key: 1 for key in running}, xx=True)  # expired long ago
    registry.cleanup(timestamp=1)                                          # only those
    return len(running)


def _retry_when_back(step, log, tries: int = 30) -> None:
    """Run `step` once Redis answers again (one try a second, at most `tries`)."""
    import time

    import redis

    for _ in range(tries):
        try:
            if count := step():
                log.warning("requeued %d job(s) that were running when Redis was lost", count)
            return
        except (redis.ConnectionError, redis.TimeoutError):
            time.sleep(1)
    log.error("Redis did not come back within %d s: jobs that were running wait for RQ's own cleanup", tries)


def register(subparsers) -> None:
    parser = subparsers.add_parser("worker", help="run the outbound WeChat API queue worker")
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    parser.set_defaults(func=run)
