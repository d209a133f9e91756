"""Language of the pages: Vietnamese unless the visitor chose English; numbers in it."""

from flask import current_app, request, session
from flask_babel import format_decimal, format_timedelta
from flask_babel import gettext as _


def select_locale():
    """?lang= switches and is remembered in the session; the API stays language-neutral."""
    languages = current_app.config["LANGUAGES"]
    chosen = request.args.get("lang")
    if chosen in languages:
        session["lang"] = chosen
        return chosen
    if session.get("lang") in languages:
        return session["lang"]
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def distance_label(metres):
    """1200 -> "1.2 km" (in the page's language), 300 -> "300 m"."""
    if metres < 1000:
        return f"{format_decimal(metres, format='#,##0')} m"
    return f"{format_decimal(metres / 1000, format='#,##0.#')} km"


def away_label(metres):
    """How far a need is, rounded to 100 m: "less than 100 m" when that rounds to nothing."""
    return distance_label(metres) if metres else _("less than 100 m")


def age_label(created_at, now):
    """How long ago, in the page's language ("5 minutes ago")."""
    return format_timedelta(created_at - now, granularity="minute", add_direction=True)
