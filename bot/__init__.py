"""A customer-service bot for a digital wallet's WeChat official account.

`create_app()` builds the Flask app (see bot.app); everything else is reached
through the modules named in README.md.
"""
__version__ = "0.1.0"


def create_app(settings=None, **services):
    from bot.app import create_app as _create_app

    return _create_app(settings, **services)
