"""Language of the pages: Vietnamese unless the visitor chose English."""
from flask import current_app, request, session


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
