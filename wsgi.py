"""The WSGI entry point: `gunicorn -c config/gunicorn.conf.py wsgi:app` (plain `gunicorn wsgi:app` works too)."""
from bot import create_app

app = create_app()
