"""Short links to a request, sent by SMS to the number it was posted with.

The number may be mistyped (a hotline operator, a resident in a hurry), so such a link is a
weaker key than the manage link: it shows the status and lets its holder cancel or confirm, and
shows the requester's name, address and exact point only once the phone is proven (a code, or
any SMS reply from it after the post).
"""

import hashlib
import secrets

from sqlalchemy import select

from connect import clock
from connect.extensions import db
from connect.requests.models import HelpRequest, SmsLink
from connect.sms.outbound import public_url
from connect.sms.proof import proven_at

# No 0/O, 1/I: read aloud or typed from a feature phone's screen without doubt; 60 bits.
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LENGTH = 12
PATH = "/s/"


def _hash(code):
    return hashlib.sha256(code.upper().encode()).hexdigest()


def issue(request_id):
    """A new short link code for the request (stored hashed); returns the code."""
    code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    db.session.add(SmsLink(code_hash=_hash(code), request_id=request_id, created_at=clock.now()))
    return code


def url(code):
    """The link as texted: PUBLIC_BASE_URL, then /s/ and the code."""
    return public_url(PATH + code)


def find(code):
    """The request a short link opens, or None."""
    if not isinstance(code, str) or len(code) != LENGTH:
        return None
    return db.session.execute(
        select(HelpRequest).join(SmsLink).where(SmsLink.code_hash == _hash(code))
    ).scalar_one_or_none()


def phone_proven(help_request):
    """Whether the request's phone answered (a reply or a code) since it was posted."""
    when = proven_at(help_request.phone) if help_request.phone else None
    return when is not None and when >= help_request.created_at


def texted(request_id):
    """Whether the request's phone was texted its link (not when it asked for no texts)."""
    found = select(SmsLink.code_hash).where(SmsLink.request_id == request_id).limit(1)
    return db.session.execute(found).first() is not None
