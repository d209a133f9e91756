"""What every server-rendered page shares: template context, error pages in words."""
from datetime import timedelta
from urllib.parse import urlencode

from flask import current_app, make_response, render_template, request
from flask_babel import format_timedelta, get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from connect.errors import handle_http_exception
from connect.web.identity import current_user
from connect.web.ratelimits import handle_rate_limited, retry_after


def init_app(app):
    """What every page shares: its template context, and 429 and CSRF answers in words."""
    app.context_processor(_template_context)
    # Pages answer these in words; the API keeps the JSON envelope. A blueprint may still
    # handle CSRFError its own way (redirect back with a message).
    app.register_error_handler(429, too_many)
    app.register_error_handler(CSRFError, form_expired)


def _is_api():
    return request.path.startswith("/api/")


def too_many(error):
    """A rate limit on a page: what to do, and how long to wait (Retry-After)."""
    if _is_api():
        return handle_rate_limited(error)
    wait = retry_after()
    words = {"wait": format_timedelta(timedelta(seconds=wait), threshold=1.0)}
    message = {
        "account.login": _("Too many tries with this phone number or from this connection. "
                           "Please wait %(wait)s, then try again.", **words),
        "account.register": _("Too many accounts were made from this connection. Please "
                              "wait %(wait)s, then try again.", **words),
        "resident.new_request": _("Too many requests were posted from this phone number or "
                                  "this connection. Please wait %(wait)s and try again, or "
                                  "ask a neighbour to post for you.", **words),
        "volunteer.claim": _("You have taken on many needs in a short time. Please wait "
                             "%(wait)s before taking another one.", **words),
        "offer.ask": _("Too many requests were posted from this phone number or this "
                       "connection. Please wait %(wait)s and try again.", **words),
        "offer.new": _("You have posted many offers today. Please wait %(wait)s before "
                       "posting another one.", **words),
    }.get(request.endpoint, _("Too many tries. Please wait %(wait)s, then try again.",
                              **words))
    response = make_response(render_template(
        "account/message.html", title=_("Please wait a little"), message=message), 429)
    response.headers["Retry-After"] = str(wait)
    return response


def form_expired(error):
    """A form sent without a valid CSRF token: a page that says so, and nothing done."""
    if _is_api():
        return handle_http_exception(error)
    current_app.logger.info("refused a form without a valid CSRF token on %s", request.path)
    return render_template("account/message.html", title=_("Please try again"), message=_(
        "This form could not be sent. Please go back, reload the page and try again.")), 400


def lang_query(code):
    """The language switch's link: on console pages it keeps the page's filters."""
    # Only the console's query strings are filters worth keeping; a resident's page may
    # carry their exact location in its query, which is never written into a page.
    if not (request.endpoint or "").startswith("console."):
        return "?" + urlencode([("lang", code)])
    kept = [(key, value) for key, value in request.args.items(multi=True) if key != "lang"]
    return "?" + urlencode(kept + [("lang", code)])


def _template_context():
    config = current_app.config
    return {
        "lang_query": lang_query,
        "current_user": current_user(),
        "current_locale": str(get_locale()),
        "languages": config["LANGUAGES"],
        "map_config": {"tiles": config["MAP_TILE_URL"], "attribution": config["MAP_ATTRIBUTION"],
                       "center": list(config["MAP_CENTER"])},
    }
