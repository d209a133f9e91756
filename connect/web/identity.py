"""Who is calling, as the web plumbing sees it: accounts tells it how at start-up."""

from flask import current_app, request

_LOADER = "connect.current_user"
# A requester without an account proves a request theirs with its manage token in this header.
MANAGE_HEADER = "X-Manage-Token"


def set_user_loader(app, loader):
    """Register ``loader()``: the request's user or None (a bad credential raises)."""
    # As Flask-Login's user_loader: plumbing below accounts asks, accounts answers.
    app.extensions[_LOADER] = loader


def current_user():
    """The user behind this request (bearer token or session), or None."""
    return current_app.extensions[_LOADER]()


def manage_token():
    """The manage token the request carries (X-Manage-Token), or None."""
    return request.headers.get(MANAGE_HEADER) or None
