"""Request events reach every package that reacts to them, in web and command-line processes."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).with_name("flask")

# Each event and what it sets in motion, in the order receivers run.
EXPECTED = {
    "connect.requests.signals.posted": "connect.safety.duplicates.flag_lookalikes, "
    "connect.matching.listeners.push_posted, connect.conversations.listeners.text_link",
    "connect.requests.signals.claimed": "connect.conversations.listeners.text_claimed, "
    "connect.metrics.count_claimed",
    "connect.requests.signals.released": "connect.matching.listeners.push_released",
    "connect.requests.signals.lease-lapsed": "connect.matching.listeners.lease_lapsed",
    "connect.requests.signals.helped": "connect.conversations.listeners.ask_helped, "
    "connect.metrics.count_helped",
    "connect.requests.signals.confirmed": "connect.conversations.listeners.close_questions, "
    "connect.metrics.count_confirmed",
    "connect.requests.signals.disputed": "connect.safety.duplicates.flag_disputed, "
    "connect.matching.listeners.push_released, connect.conversations.listeners.close_questions",
    "connect.requests.signals.cancelled": "connect.conversations.listeners.close_questions",
    "connect.requests.signals.hidden": "connect.conversations.listeners.close_questions",
    "connect.requests.signals.restored": "connect.matching.listeners.push_restored",
    "connect.requests.signals.moved": "-",
    "connect.requests.signals.phone-check": "connect.safety.blocking.check_phone_allowed",
    "connect.requests.signals.review-hold": "connect.safety.reports.review_hold",
    "connect.notifications.signals.inbox-opening": "connect.matching.listeners.catch_up_inbox",
    "connect.areas.signals.imported": "connect.requests.listeners.place_all_requests",
    "connect.sms.signals.sms-fell-back": "connect.notifications.delivery._to_the_inbox_instead",
    "connect.sms.signals.sms-received": "connect.conversations.replies.receive",
}


def listed(output):
    return dict(line.split(": ", 1) for line in output.strip().splitlines())


def test_a_web_app_has_every_receiver(app, runner):
    """The app the web server builds (create_app) connects every package's receivers."""
    with app.test_request_context("/"):
        result = runner.invoke(args=["connect", "signals"])
    assert result.exit_code == 0, result.output
    assert listed(result.output) == EXPECTED


def test_a_fresh_command_line_process_has_every_receiver(tmp_path):
    """A cron or worker command runs in a process that imported no view: it still listens."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "SECRET_KEY": "test",
        "BLUR_SECRET": "test",
    }
    result = subprocess.run(
        [str(FLASK), "--app", "wsgi", "connect", "signals"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert listed(result.stdout) == EXPECTED
