"""What every server-rendered page shares: template context, error pages in words."""

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from flask import (
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_timedelta, get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from connect.errors import handle_http_exception, where
from connect.web.identity import current_user
from connect.web.ratelimits import handle_rate_limited, retry_after

# How each blueprint's pages answer a form sent without a valid CSRF token (form_expired).
_EXPIRED_FORMS = {}


@dataclass(frozen=True)
class ExpiredForm:
    """A page that says so (a link back to the endpoint ``link`` when given; the blueprint's
    own ``template`` when named), or, with ``back`` set, a flash message and a redirect: to the
    form's own page for the endpoints in ``again``, else to the endpoint ``back``."""

    template: str | None = None
    link: str | None = None
    back: str | None = None
    again: tuple = ()


def answer_expired_forms(blueprint, **answer):
    """Say once how this blueprint's pages answer an expired form (see ExpiredForm)."""
    _EXPIRED_FORMS[blueprint.name] = ExpiredForm(**answer)


def init_app(app):
    """What every page shares: its template context, and 429 and CSRF answers in words."""
    app.context_processor(_template_context)
    # Pages answer these in words; the API keeps the JSON envelope.
    app.register_error_handler(429, too_many)
    app.register_error_handler(CSRFError, form_expired)


def is_api():
    """Whether this request is the JSON API's (answered in the envelope), not a page's."""
    return request.path.startswith("/api/")


def too_many(error):
    """A rate limit on a page: what to do, and how long to wait (Retry-After)."""
    if is_api():
        return handle_rate_limited(error)
    wait = retry_after()
    words = {"wait": format_timedelta(timedelta(seconds=wait), threshold=1.0)}
    message = {
        "account.login": _(
            "Too many tries with this phone number or from this connection. "
            "Please wait %(wait)s, then try again.",
            **words,
        ),
        "account.register": _(
            "Too many accounts were made from this connection. Please "
            "wait %(wait)s, then try again.",
            **words,
        ),
        "resident.new_request": _(
            "Too many requests were posted from this phone number or "
            "this connection. Please wait %(wait)s and try again, or "
            "ask a neighbour to post for you.",
            **words,
        ),
        "volunteer.claim": _(
            "You have taken on many needs in a short time. Please wait "
            "%(wait)s before taking another one.",
            **words,
        ),
        "offer.ask": _(
            "Too many requests were posted from this phone number or this "
            "connection. Please wait %(wait)s and try again.",
            **words,
        ),
        "offer.new": _(
            "You have posted many offers today. Please wait %(wait)s before posting another one.",
            **words,
        ),
    }.get(request.endpoint, _("Too many tries. Please wait %(wait)s, then try again.", **words))
    response = message_page(_("Please wait a little"), message, status=429)
    response.headers["Retry-After"] = str(wait)
    return response


def form_expired(error):
    """A form sent without a valid CSRF token: nothing done, and the page says so (as its
    blueprint chose: a page in words, or back to a form with a message)."""
    if is_api():
        return handle_http_exception(error)
    current_app.logger.info("refused a form without a valid CSRF token on %s", where())
    answer = _EXPIRED_FORMS.get(request.blueprint, ExpiredForm())
    if answer.back is not None:
        flash(
            _("This page was open for too long, or cookies are turned off. Please try again."),
            "error",
        )
        again = request.endpoint in answer.again
        return redirect(request.full_path.rstrip("?") if again else url_for(answer.back))
    message = _("This form could not be sent. Please go back, reload the page and try again.")
    if answer.template is not None:
        return render_template(answer.template, message=message), 400
    return message_page(
        _("Please try again"),
        message,
        answer.link and url_for(answer.link),
        answer.link and _("Go back"),
        400,
    )


def message_page(title, message, link_url=None, link_text=None, status=200):
    """A page of a title, a sentence and one link (back to the start unless given)."""
    return make_response(
        render_template(
            "account/message.html",
            title=title,
            message=message,
            link_url=link_url,
            link_text=link_text,
        ),
        status,
    )


def problem_page(error, words, link_url, link_text=None):
    """A ConnectError on a page, in words: ``words`` maps a status to (title, message)."""
    title, message = words.get(error.status) or (
        _("Something went wrong"),
        _("Please go back and try again."),
    )
    return message_page(title, message, link_url, link_text or _("Go back"), error.status)


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
        "map_config": {
            "tiles": config["MAP_TILE_URL"],
            "attribution": config["MAP_ATTRIBUTION"],
            "center": list(config["MAP_CENTER"]),
        },
    }
