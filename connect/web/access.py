"""Every access rule a view states before it runs: signed in, a role, a domain's check.

Pages send a caller who is not signed in to the login page (and back after it) and answer a
refusal with a page in words; the API answers 401 and 403 in the JSON envelope. Domain rules
(who coordinates a request, who holds its claim) are checks their own package passes in.
"""

from functools import wraps

from flask import redirect, request, url_for

from connect.errors import Forbidden, Unauthorized
from connect.web.identity import current_user
from connect.web.pages import is_api, message_page


def require_user():
    """The caller, or 401 (for views that check inside, as the API's do)."""
    user = current_user()
    if user is None:
        raise Unauthorized()
    return user


def signed_in(view=None, *, after_post=None, back=None):
    """A view for signed-in callers: it gets the caller as its first argument.

    A page sends anyone else to log in, then back to itself; a form post comes back to the
    page ``after_post`` names (a redirect cannot send the form again), or, when ``back`` is
    given, to ``back(**view_args)`` whatever the method. The API answers 401.
    """
    if view is None:
        return lambda view: signed_in(view, after_post=after_post, back=back)

    @wraps(view)
    def wrapped(*args, **kwargs):
        user = current_user()
        if user is None:
            if is_api():
                raise Unauthorized()
            return redirect(url_for("account.login", next=_next_page(after_post, back, kwargs)))
        return view(user, *args, **kwargs)

    return wrapped


def role_required(*roles, after_post=None, title=None, message=None):
    """``signed_in``, for callers whose role is one of ``roles``: anyone else gets 403 (a page
    with ``title`` and ``message``)."""

    def decorate(view):
        @signed_in(after_post=after_post)
        @wraps(view)
        def wrapped(user, *args, **kwargs):
            if user.role not in roles:
                return _refused(title, message)
            return view(user, *args, **kwargs)

        return wrapped

    return decorate


def requires(check, refused=None):
    """A signed-in caller's view that runs only when ``check(user, **view_args)`` holds; else
    403 (a page answers ``refused(user, **view_args)`` when given). Put it under
    ``signed_in``."""

    def decorate(view):
        @wraps(view)
        def wrapped(user, *args, **kwargs):
            if not check(user, **kwargs):
                if refused is None or is_api():
                    raise Forbidden()
                return refused(user, *args, **kwargs)
            return view(user, *args, **kwargs)

        return wrapped

    return decorate


def _next_page(after_post, back, view_args):
    if back is not None:
        return back(**view_args)
    if request.method == "GET" or after_post is None:
        return request.full_path.rstrip("?")
    return url_for(after_post)


def _refused(title, message):
    if is_api():
        raise Forbidden()
    return message_page(title, message, status=403)
