"""Session hooks that tell this process's read model about its own commits."""

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from connect.requests.models import HelpRequest

_installed = False


def install_session_hooks():
    """Listen on every ORM session once: a commit touching a request marks the model stale."""
    global _installed
    if _installed:
        return
    _installed = True
    event.listen(Session, "after_flush", _note_flush)
    event.listen(Session, "do_orm_execute", _note_bulk_update)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)


def _note_flush(session, _context):
    if any(isinstance(obj, HelpRequest) for obj in (*session.new, *session.dirty)):
        session.info["touched_requests"] = True


def _note_bulk_update(state):
    if (
        (state.is_update or state.is_insert)
        and state.bind_mapper is not None
        and state.bind_mapper.class_ is HelpRequest
    ):
        state.session.info["touched_requests"] = True


def _after_commit(session):
    # A process sees its own writes at once: the next nearby query catches up first.
    if session.info.pop("touched_requests", False) and has_app_context():
        read_model = current_app.extensions.get("read_model")
        if read_model is not None:
            read_model.note_local_write()


def _after_rollback(session):
    session.info.pop("touched_requests", None)
