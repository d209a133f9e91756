"""The app for tests that serve real HTTP from their own processes, configured from the environment.

    DATABASE_URL=... gunicorn -c gunicorn.conf.py -w 1 --threads 4 -b 127.0.0.1:PORT \\
        --pythonpath .,tests/support serve:app

DATABASE_URL (required; the database must already be migrated), SECRET_KEY and BLUR_SECRET
(defaults ``test-secret`` and ``test-blur-secret``, as tests/conftest.py's apps); development
settings (CONNECT_ENV); rate limits off and no demo data unless RATELIMIT_ENABLED / DEMO_DATA say
otherwise. Everything else (READ_MODEL_SYNC_INTERVAL, CLAIM_LEASE_SECONDS, ...) comes from
the environment as in production (connect.config).
"""

import faulthandler
import os
import signal

from connect import create_app

# `kill -USR2 <worker pid>` writes every thread's stack to the log: a hung test server can say
# where it hangs (gunicorn workers leave USR2 alone once booted; this runs after that set-up).
faulthandler.register(signal.SIGUSR2, all_threads=True)

os.environ.setdefault("RATELIMIT_ENABLED", "false")
os.environ.setdefault("DEMO_DATA", "0")
os.environ.setdefault("CONNECT_ENV", "development")
os.environ.setdefault("SECRET_KEY", "test-secret")
os.environ.setdefault("BLUR_SECRET", "test-blur-secret")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")  # served over plain http

app = create_app({"SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"]})
