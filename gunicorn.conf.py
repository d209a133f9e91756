"""gunicorn settings for `make run` and the tests: the package's (connect/gunicorn_conf.py)."""

from connect.gunicorn_conf import *  # noqa: F403
