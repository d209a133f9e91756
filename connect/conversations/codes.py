"""What a code texted to a phone unlocks: a new password, a lost manage link, a proven phone.

Asking never tells whether a number has an account or a request: the answer is the same, and
only a number that has one gets a text. What the number has is said once the code is right.
"""

from flask import current_app

from connect.accounts import services as accounts
from connect.notifications.render import sms
from connect.requests import editing, phones
from connect.sms import codes
from connect.sms.codes import RESEND, RESET, VERIFY, InvalidCode
from connect.sms.outbound import send_text


def text_code(phone, purpose, locale, request_id=None):
    """Text ``phone`` a new code for ``purpose`` (after the commit; even after STOP)."""
    code = codes.issue(phone, purpose)
    words = sms("code", locale, code=code, minutes=current_app.config["SMS_CODE_MINUTES"])
    send_text(phone, words, "code", locale=locale, urgent=True, request_id=request_id)


def ask_password_reset(phone, locale):
    """A code to the phone of an enabled account; nothing to any other number."""
    if accounts.account_with_phone(phone) is not None:
        text_code(phone, RESET, locale)


def reset_password(phone, code, password):
    """The account's new password, with the code texted for it; its sessions and tokens end."""
    codes.use(phone, RESET, code)
    user = accounts.account_with_phone(phone)
    if user is None:  # disabled since the code was sent
        raise InvalidCode()
    accounts.reset_password(user, password)
    return user


def ask_link_again(phone, locale):
    """A code to a phone some request was posted with; nothing to any other number."""
    if phones.has_posted(phone):
        text_code(phone, RESEND, locale)


def link_again(phone, code):
    """A new manage link for the phone's open request, with the code texted for it:
    (request, token), or (None, None) when the phone has no open request."""
    codes.use(phone, RESEND, code)
    return editing.resend_manage_link(phone)


def ask_to_verify(help_request):
    """A code to the request's phone, in the request's language."""
    text_code(help_request.phone, VERIFY, help_request.locale, help_request.id)


def verify_phone(help_request, code):
    """The request's phone proven by the code texted to it."""
    codes.use(help_request.phone, VERIFY, code)
