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
                return 0
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if args.burst:
                    raise
                # Redis restarted or failed over: the jobs are in Redis, so wait for it and go on.
                log.warning("lost Redis (%s); reconnecting in 1 s", type(exc).__name__)
                time.sleep(1)
    finally:
        refresher.stop()


def register(subparsers) -> None:
    parser = subparsers.add_parser("worker", help="run the outbound WeChat API queue worker")
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    parser.set_defaults(func=run)
