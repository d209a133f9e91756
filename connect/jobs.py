"""What `flask connect scheduler` runs, and how often (every interval is a setting)."""

from datetime import timedelta

from flask import current_app

from connect import clock
from connect.conversations.checkins import ask_due
from connect.matching.leases import remind_due
from connect.offers.services import expire_offers
from connect.outbox.worker import forget_finished
from connect.requests.timeouts import expire_all
from connect.safety.purge import purge_personal_data
from connect.scheduler.engine import Job, forget_runs
from connect.sms.codes import forget_expired as forget_codes
from connect.web.idempotency import purge_expired_keys


def expire():
    """Persist lapsed claim leases, stale requests and past offers."""
    result = expire_all()
    offers = expire_offers()
    return (
        f"leases lapsed: {result['leases_lapsed']}, "
        f"requests expired: {result['requests_expired']}, offers expired: {offers}"
    )


def lease_reminders():
    """Remind claimants whose lease ends soon."""
    return f"reminders: {remind_due()}"


def checkins():
    """Ask requesters by SMS whether they still need help before their request expires."""
    return f"asked: {ask_due()}"


def purge():
    """Anonymise requests closed more than PURGE_AFTER_DAYS ago."""
    result = purge_personal_data()
    return (
        f"requests purged: {result['requests_purged']}, "
        f"report comments removed: {result['report_comments_removed']}"
    )


def idempotency_keys():
    """Delete stored answers to idempotent posts past their time."""
    return f"keys removed: {purge_expired_keys()}"


def housekeeping():
    """Forget finished outbox events and job runs older than OUTBOX_KEEP_DAYS, and codes
    that stopped working."""
    now = clock.now()
    cutoff = now - timedelta(days=current_app.config["OUTBOX_KEEP_DAYS"])
    return (
        f"outbox events removed: {forget_finished(cutoff)}, "
        f"job runs removed: {forget_runs(cutoff)}, codes removed: {forget_codes(now)}"
    )


def schedule(config):
    """The jobs with their intervals from the configuration."""

    def every(name):
        return timedelta(seconds=config[name])

    return (
        Job("expire", every("SCHEDULE_EXPIRE_SECONDS"), expire),
        Job("lease-reminders", every("SCHEDULE_LEASE_REMINDERS_SECONDS"), lease_reminders),
        Job("checkins", every("SCHEDULE_CHECKINS_SECONDS"), checkins),
        Job("purge", every("SCHEDULE_PURGE_SECONDS"), purge, lease=timedelta(hours=1)),
        Job("idempotency-keys", every("SCHEDULE_IDEMPOTENCY_KEYS_SECONDS"), idempotency_keys),
        Job("housekeeping", every("SCHEDULE_HOUSEKEEPING_SECONDS"), housekeeping),
    )
