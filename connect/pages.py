"""The server-rendered pages: blueprints, shared template context, the home page."""
from flask import Blueprint, current_app, render_template
from flask_babel import get_locale

from connect.accounts.auth import current_user
from connect.coordination.stats import public_stats

bp = Blueprint("pages", __name__)


@bp.get("/")
def home():
    """Two big choices, and how many neighbours have been helped."""
    return render_template("home.html", stats=public_stats())


def register_pages(app):
    from connect.accounts.views import bp as account_bp
    from connect.requests.views import bp as resident_bp
    from connect.volunteers.views import bp as volunteer_bp

    for blueprint in (bp, account_bp, resident_bp, volunteer_bp):
        app.register_blueprint(blueprint)
    app.context_processor(_template_context)


def _template_context():
    config = current_app.config
    return {
        "current_user": current_user(),
        "current_locale": str(get_locale()),
        "languages": config["LANGUAGES"],
        "map_config": {"tiles": config["MAP_TILE_URL"], "attribution": config["MAP_ATTRIBUTION"],
                       "center": list(config["MAP_CENTER"])},
    }
