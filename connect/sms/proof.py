"""Phones shown to be in their holder's hands: by a reply from them, or by a code sent to them."""

from connect.extensions import db
from connect.sms.models import ProvenPhone

REPLY, CODE = "reply", "code"


def prove(phone, now, how):
    """Note that the phone is in its holder's hands (``how``: REPLY or CODE), as of ``now``."""
    proven = db.session.get(ProvenPhone, phone)
    if proven is None:
        db.session.add(ProvenPhone(phone=phone, proven_at=now, how=how))
    else:
        proven.proven_at, proven.how = now, how


def proven_at(phone):
    """When the phone was last proven, or None."""
    proven = db.session.get(ProvenPhone, phone)
    return proven.proven_at if proven is not None else None
