"""connect: post a need, find it nearby, claim it, help, count."""

import logging
import os

from flask import Flask

from connect.config import Config, settle
from connect.errors import register_error_handlers


def create_app(config=None):
    """Build the application: each step below is one concern."""
    app = Flask(__name__, instance_relative_config=True)
    load_config(app, config)
    configure_logging(app)
    trust_proxies(app)
    configure_db(app)
    init_extensions(app)
    connect_domains(app)
    configure_notifications(app)
    configure_outbox(app)
    configure_sms(app)
    add_security_headers(app)
    register_error_handlers(app)
    register_blueprints(app)
    add_request_boundary(app)
    attach_read_model(app)
    add_probes(app)
    add_nearby_fast_path(app)
    observe_requests(app)
    register_cli(app)
    return app


def load_config(app, overrides):
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(vars(Config(app.instance_path)))
    if overrides:
        app.config.from_mapping(overrides)
    settle(app.config, app.instance_path)
    app.json.sort_keys = False


def configure_logging(app):
    """JSON (or LOG_FORMAT=text) lines with request ids, redacted (connect.logs)."""
    from connect import logs

    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    logs.configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])


def trust_proxies(app):
    """Take the client address (and scheme) from the configured number of proxies."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    x_for, x_proto = app.config["PROXY_FIX_X_FOR"], app.config["PROXY_FIX_X_PROTO"]
    if x_for or x_proto:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=x_for, x_proto=x_proto)


def connect_domains(app):
    """Each domain's start-up: who is calling, the receivers of request events (blinker
    holds them weakly, and a process that never imported a module would miss them), and what
    offers give lower packages (a report subject, their privacy rule)."""
    from connect import metrics
    from connect.accounts import auth
    from connect.conversations import listeners as conversation_listeners
    from connect.conversations import replies
    from connect.matching import listeners as matching_listeners
    from connect.offers import queries as offer_queries
    from connect.offers import reporting as offer_reports
    from connect.requests import listeners as request_listeners
    from connect.requests import signals as request_signals
    from connect.safety import listeners as safety_listeners

    auth.init_app(app)
    request_listeners.init_app(app)
    # Safety first: a post's look-alikes are flagged before volunteers are told of it.
    safety_listeners.init_app(app)
    matching_listeners.init_app(app)
    offer_reports.init_app(app)
    offer_queries.init_app(app)
    # Texts last: a post's link goes out once everything else about the post went through.
    conversation_listeners.init_app(app)
    replies.init_app(app)
    # Counted last, once everything a claim sets in motion went through.
    request_signals.claimed.connect(metrics.count_claimed)
    request_signals.helped.connect(metrics.count_helped)
    request_signals.confirmed.connect(metrics.count_confirmed)


def configure_notifications(app):
    """Check NOTIFY_BACKENDS (a clear error at start-up) and set up the live inbox."""
    from connect.notifications.delivery import init_app

    init_app(app)


def configure_outbox(app):
    """With OUTBOX_INLINE, events run right after their commit (tests); else the worker runs them."""
    from connect.outbox.worker import install_inline

    install_inline(app)


def configure_sms(app):
    """The gateway SMS_BACKEND names (checked at start-up), and the outbox topic that sends."""
    from connect.sms.outbound import init_app

    init_app(app)


def add_security_headers(app):
    from connect.security import init_security_headers

    init_security_headers(app)


def configure_db(app):
    from connect.database import engine_options

    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"], app.config.get("SQLALCHEMY_ENGINE_OPTIONS")
    )


def init_extensions(app):
    from connect import models  # noqa: F401  (registers every model with the metadata)
    from connect.database import MIGRATIONS, setup_engine
    from connect.extensions import api, babel, compress, csrf, db, limiter, migrate
    from connect.i18n import select_locale

    db.init_app(app)
    with app.app_context():
        setup_engine(db.engine)
    migrate.init_app(app, db, directory=MIGRATIONS)
    limiter.init_app(app)
    api.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    compress.init_app(app)


def register_blueprints(app):
    from connect.accounts.api import bp as auth_bp
    from connect.conversations.api import bp as password_reset_bp
    from connect.coordination.exports.api import bp as exports_bp
    from connect.coordination.intake.api import bp as intake_bp
    from connect.coordination.map.api import bp as console_map_bp
    from connect.coordination.request_page.api import bp as console_requests_bp
    from connect.coordination.statistics.api import bp as stats_bp
    from connect.extensions import api, csrf
    from connect.matching.batch_api import bp as assignments_bp
    from connect.notifications.api import bp as notifications_bp
    from connect.offers.api import bp as offers_bp
    from connect.requests.api import bp as requests_bp
    from connect.safety.api import bp as safety_bp
    from connect.volunteers.api import bp as volunteers_bp

    for blueprint in (
        auth_bp,
        password_reset_bp,
        requests_bp,
        volunteers_bp,
        stats_bp,
        safety_bp,
        offers_bp,
        assignments_bp,
        notifications_bp,
        console_map_bp,
        console_requests_bp,
        intake_bp,
        exports_bp,
    ):
        # The API authenticates with bearer tokens or manage tokens sent in headers, which a
        # cross-site form cannot send: CSRF protection is for the cookie-based pages.
        csrf.exempt(blueprint)
        api.register_blueprint(blueprint)
    register_pages(app)
    # Kannel's calls (texts received, delivery reports) come with a shared secret, not a form.
    from connect.sms.routes import bp as sms_bp

    csrf.exempt(sms_bp)
    app.register_blueprint(sms_bp)
    # flask-smorest installs its own error handler; ours is the one envelope.
    register_error_handlers(app)


def add_probes(app):
    """/healthz (liveness) and /readyz (database, migrations, read model)."""
    from connect import health

    health.init_app(app)


def register_pages(app):
    from connect.accounts.views import bp as account_bp
    from connect.conversations.views import bp as codes_bp
    from connect.coordination.views import bp as console_bp
    from connect.home import bp as home_bp
    from connect.offers.views import bp as offer_pages_bp
    from connect.requests.views import bp as resident_bp
    from connect.safety.views import bp as reports_bp
    from connect.volunteers.views import bp as volunteer_bp
    from connect.web import assets, pages

    for blueprint in (
        home_bp,
        account_bp,
        codes_bp,
        resident_bp,
        volunteer_bp,
        reports_bp,
        offer_pages_bp,
        console_bp,
    ):
        app.register_blueprint(blueprint)
    pages.init_app(app)
    assets.init_app(app)


def add_request_boundary(app):
    """Commit once per request when its action went through; roll back when it failed."""
    from connect.web import boundary

    boundary.init_app(app)


def attach_read_model(app):
    from connect.coordination.map.snapshot import RequestSnapshot
    from connect.extensions import db
    from connect.geo.ranking import Weights
    from connect.matching.hooks import install_session_hooks
    from connect.matching.readmodel import OpenRequestsReadModel

    with app.app_context():
        engine = db.engine
    read_model = OpenRequestsReadModel(
        engine,
        sync_interval=app.config["READ_MODEL_SYNC_INTERVAL"],
        max_staleness=app.config["READ_MODEL_MAX_STALENESS"],
        expiry_seconds=app.config["REQUEST_EXPIRY_SECONDS"],
        rank_weights=Weights.from_config(app.config),
    )
    app.extensions["read_model"] = read_model
    app.extensions["request_snapshot"] = RequestSnapshot(engine)

    install_session_hooks()


def add_nearby_fast_path(app):
    """Plain nearby GETs answered before Flask, as Flask would (connect.web.fastpath)."""
    from connect.requests.schemas import NearbyQuerySchema
    from connect.web.fastpath import install

    install(app, "requests.nearby", NearbyQuerySchema())


def observe_requests(app):
    """Request ids, and each answer counted and timed by route, the fast path's too."""
    from connect.web import observe

    observe.init_app(app)


def register_cli(app):
    from connect.cli import connect_cli

    app.cli.add_command(connect_cli)
