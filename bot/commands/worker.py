"""`python -m bot worker`: run the outbound queue (customer-service messages, kf calls)."""
from __future__ import annotations

import logging


def run(args) -> int:
    from rq import Queue, SimpleWorker

    from bot import jobs
    from bot.handoff import AgentRefresher
    from bot.app import configure_logging
    from bot.redis_server import connect
    from config.settings import Settings

    settings = Settings.from_env()
    configure_logging(settings)
    connection = connect(settings)
    jobs.configure(settings, connection)
    queue = Queue(settings.BOT_QUEUE_NAME, connection=connection)
    # SimpleWorker runs jobs in this process: one HTTP keep-alive session, no fork per message.
    worker = SimpleWorker([queue], connection=connection)
    logging.getLogger(__name__).info("outbound worker on queue %s", settings.BOT_QUEUE_NAME)
    refresher = AgentRefresher(settings.BOT_AGENT_REFRESH)
    if not args.burst:
        refresher.start()
    try:
        worker.work(with_scheduler=True, burst=args.burst, logging_level=settings.BOT_LOG_LEVEL)
    finally:
        refresher.stop()
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("worker", help="run the outbound WeChat API queue worker")
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    parser.set_defaults(func=run)
