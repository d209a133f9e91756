"""What a requester is told by SMS as their request moves: its link, who is coming, "were you
helped?". Receivers run in the change's transaction and only queue texts (connect.sms)."""

from connect.accounts.models import User
from connect.conversations import questions
from connect.extensions import db
from connect.notifications.render import given_name, sms
from connect.requests import signals, sms_links
from connect.sms.outbound import opted_out, send_text

HELPED_QUESTION = "helped"


def init_app(app):
    """Connect the receivers (create_app; blinker holds them weakly, so they live here)."""
    signals.posted.connect(text_link)
    signals.claimed.connect(text_claimed)
    signals.helped.connect(ask_helped)
    for closing in (signals.confirmed, signals.cancelled, signals.hidden, signals.disputed):
        closing.connect(close_questions)


def _texts_to(help_request):
    return help_request.sms_updates and not opted_out(help_request.phone)


def tell(help_request, kind, urgent=True, **values):
    """Queue a text of ``kind`` to the request's phone, in its language."""
    return send_text(
        help_request.phone,
        sms(kind, help_request.locale, number=help_request.id, **values),
        kind,
        locale=help_request.locale,
        urgent=urgent,
        request_id=help_request.id,
    )


def text_link(help_request, **_details):
    """On posting: the request number and its short link (a weaker key than the manage link,
    as the number may be mistyped)."""
    if _texts_to(help_request):
        code = sms_links.issue(help_request.id)
        tell(help_request, "posted", link=sms_links.url(code))


def text_claimed(help_request, volunteer_id, **_details):
    """Someone is coming, named by their given name only."""
    if _texts_to(help_request):
        volunteer = db.session.get(User, volunteer_id)
        tell(help_request, "claimed", name=given_name(volunteer.name if volunteer else ""))


def ask_helped(help_request, **_details):
    """The claimant marked it helped: ask the requester (1 yes, 2 no); not urgent at night."""
    if _texts_to(help_request):
        volunteer = db.session.get(User, help_request.claimed_by_id)
        questions.ask(help_request.phone, HELPED_QUESTION, help_request.id)
        tell(
            help_request,
            "helped",
            urgent=False,
            name=given_name(volunteer.name if volunteer else ""),
        )


def close_questions(help_request, **_details):
    questions.close_for(help_request.id)
