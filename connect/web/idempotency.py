"""Idempotent posting: a POST retried with the same Idempotency-Key answers as the first did.

A keyed request first inserts its key row in the request's own transaction, runs the view, and
stores the answer on that row; the request boundary commits both or neither. A second request
with the key waits on that row (PostgreSQL: the unique key; SQLite: the write lock taken at
BEGIN IMMEDIATE) and then replays the stored answer. docs/api.md explains the contract.
"""

import copy
import functools
import hashlib
import hmac
import json
import os
import re
from contextlib import contextmanager
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Response, current_app, request
from marshmallow import Schema, fields
from sqlalchemy import (
    LargeBinary,
    SmallInteger,
    String,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from connect import clock
from connect.errors import ConnectError
from connect.extensions import db
from connect.web.identity import MANAGE_HEADER, current_user

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_VALID_KEY = re.compile(r"[\x20-\x7e]{1,255}")
# How long a request waits for another one holding the same key (PostgreSQL) before it is
# told to retry. SQLite writers already queue behind busy_timeout.
LOCK_WAIT = "10s"
_LOCK_NOT_AVAILABLE = "55P03"
_NONCE = 12  # AES-GCM's standard nonce size


class IdempotencyKey(db.Model):
    """One keyed POST that succeeded: what was asked (a fingerprint) and the sealed answer."""

    __tablename__ = "idempotency_keys"

    # HMAC of the caller, method, path and key: neither the key nor the caller is stored.
    scope_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    # Both None only inside the transaction that is answering for the first time.
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    response: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class InvalidKey(ConnectError):
    status, code = 400, "invalid_idempotency_key"
    message = "An Idempotency-Key is 1 to 255 printable ASCII characters."


class KeyReused(ConnectError):
    status, code = 422, "idempotency_key_reused"
    message = (
        "This Idempotency-Key was used for a different request. Use a new key for a new request."
    )


class KeyInProgress(ConnectError):
    status, code = 409, "idempotency_key_in_progress"
    message = "A request with this Idempotency-Key is still being processed. Try again shortly."

    def __init__(self):
        super().__init__(headers={"Retry-After": "1"})


class IdempotencyHeaderSchema(Schema):
    """The header, for the API description only (the decorator reads it itself)."""

    idempotency_key = fields.String(
        data_key=HEADER,
        metadata={
            "description": (
                "Optional; 1-255 printable ASCII characters, best a random UUID. A retry with the "
                "same key, from the same caller, with the same body answers the first success again "
                "(same status and body, header `Idempotent-Replayed: true`) and changes nothing. "
                "Errors are not stored: a retry after one runs again. The same key with another body "
                "answers 422 `idempotency_key_reused`; while the first request with the key is still "
                "running, 409 `idempotency_key_in_progress`; a malformed key 400 "
                "`invalid_idempotency_key`. Keys expire after `IDEMPOTENCY_KEY_TTL_SECONDS` (24 h)."
            )
        },
    )


def idempotent(view):
    """Let clients retry this POST safely with an Idempotency-Key header."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = _key_from_header()
        if key is None:
            return view(*args, **kwargs)
        scope, content = _scope(key), _request_content()
        # The scope's hash under each key, the current SECRET_KEY's first: new rows go there.
        under = {_digest(secret, b"idempotency-scope", scope): secret for secret in _secrets()}
        scope_hash, secret = next(iter(under.items()))
        replay = _begin(under, scope, content)
        if replay is not None:
            return replay
        response = current_app.make_response(view(*args, **kwargs))
        # Errors are not stored (the request boundary rolls the key row back with them): they
        # changed nothing, so running a retry again is safe, and a 503 or 429 must not stick.
        if 200 <= response.status_code < 300:
            stored = db.session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.scope_hash == scope_hash)
                .values(
                    status_code=response.status_code,
                    response=_seal(secret, scope, response.get_data()),
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            if stored != 1:
                # The view ended the transaction the key row was in: commit no write without it.
                raise RuntimeError("the idempotency key row left the request's transaction")
        return response

    _document(wrapper)
    return wrapper


def purge_expired_keys(now=None):
    """Delete idempotency keys past their expiry; flushes, returns how many."""
    now = now or clock.now()
    return db.session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.expires_at <= now)
        .execution_options(synchronize_session=False)
    ).rowcount


def _key_from_header():
    # A header sent twice reaches WSGI as one value joined by ", ": it is then one key.
    value = request.headers.get(HEADER)
    if value is None:
        return None
    if not _VALID_KEY.fullmatch(value):
        raise InvalidKey()
    return value


def _scope(key):
    """Who asks, what, and with which key: a replay goes only to the same caller."""
    # Every credential the request carries is part of the caller: an account, a manage token,
    # both or (anonymous posting) neither. An anonymous caller is then known only by the key
    # and the body it must repeat exactly, which holds the personal data the answer shows.
    user = current_user()
    caller = [f"user:{user.id}"] if user is not None else []
    manage_token = request.headers.get(MANAGE_HEADER)
    if manage_token:
        caller.append(f"manage:{manage_token}")
    return json.dumps([caller, request.method, request.path, key]).encode()


def _request_content():
    """The body as canonical JSON (key order and spacing do not matter) and the query."""
    raw = request.get_data(cache=True)
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        body = raw
    return body + b"\0" + request.query_string


def _begin(under, scope, content):
    """The stored answer to replay, or None once this request holds the key.

    A key stored before SECRET_KEY was rotated is found under a fallback's hash and replayed;
    a new key is stored under the current SECRET_KEY's.
    """
    now = clock.now()
    rows = _stored(under)
    live = [row for row in rows if row.expires_at > now]
    if live:
        return _replay(live[0], under, scope, content)
    if rows:
        db.session.execute(
            delete(IdempotencyKey)
            .where(IdempotencyKey.scope_hash.in_(list(under)), IdempotencyKey.expires_at <= now)
            .execution_options(synchronize_session=False)
        )
    ttl = timedelta(seconds=current_app.config["IDEMPOTENCY_KEY_TTL_SECONDS"])
    scope_hash, secret = next(iter(under.items()))
    try:
        with _bounded_lock_wait(), db.session.begin_nested():
            db.session.execute(
                insert(IdempotencyKey).values(
                    scope_hash=scope_hash,
                    request_hash=_digest(secret, b"idempotency-request", content),
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
    except IntegrityError:
        # Another request with this key committed while this one waited for it.
        live = [row for row in _stored(under) if row.expires_at > now]
        if not live:
            raise KeyInProgress() from None
        return _replay(live[0], under, scope, content)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
            raise KeyInProgress() from None
        raise
    return None


def _stored(scope_hashes):
    """The rows stored under any of these scope hashes (one, but for an expired leftover)."""
    k = IdempotencyKey
    return db.session.execute(
        select(k.scope_hash, k.request_hash, k.status_code, k.response, k.expires_at).where(
            k.scope_hash.in_(list(scope_hashes))
        )
    ).all()


@contextmanager
def _bounded_lock_wait():
    # On PostgreSQL the insert waits while another transaction holds an uncommitted row with
    # the same key; lock_timeout turns a long wait into 409 instead of statement_timeout's 500.
    if db.session.get_bind().dialect.name != "postgresql":
        yield
        return
    db.session.execute(text("SELECT set_config('lock_timeout', :wait, true)"), {"wait": LOCK_WAIT})
    try:
        yield
    finally:
        db.session.execute(text("SET LOCAL lock_timeout TO DEFAULT"))


def _replay(row, under, scope, content):
    # Everything of the row was made with the key its scope hash was found under.
    secret = under[row.scope_hash]
    if not hmac.compare_digest(row.request_hash, _digest(secret, b"idempotency-request", content)):
        raise KeyReused()
    if row.status_code is None:
        raise KeyInProgress()
    response = Response(
        _open(secret, scope, row.response), status=row.status_code, mimetype="application/json"
    )
    response.headers[REPLAYED_HEADER] = "true"
    return response


# -- sealing stored answers ------------------------------------------------------------------
# An answer may hold a new manage token and contact details. It is stored encrypted (AES-GCM)
# under a key derived from SECRET_KEY and the client's Idempotency-Key, which is never stored:
# the database alone (a dump, a backup, a replica) cannot open it, only the retry that
# presents the key. After a rotation, rows stored under a key now in SECRET_KEY_FALLBACKS
# are found and opened with it until they expire.


def _secrets():
    """SECRET_KEY, then each of SECRET_KEY_FALLBACKS newest first: keys stored before a
    rotation are still found and opened."""
    config = current_app.config
    return [
        key.encode() for key in (config["SECRET_KEY"], *reversed(config["SECRET_KEY_FALLBACKS"]))
    ]


def _digest(secret, purpose, data):
    return hmac.new(secret, purpose + b"\0" + data, hashlib.sha256).hexdigest()


def _subkey(secret, purpose, scope):
    return hmac.new(secret, purpose + b"\0" + scope, hashlib.sha256).digest()


def _seal(secret, scope, plaintext):
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(_subkey(secret, b"idempotency-answer", scope)).encrypt(
        nonce, plaintext, None
    )


def _open(secret, scope, sealed):
    try:
        return AESGCM(_subkey(secret, b"idempotency-answer", scope)).decrypt(
            sealed[:_NONCE], sealed[_NONCE:], None
        )
    except InvalidTag:
        raise RuntimeError("a stored idempotent answer failed its integrity check") from None


# -- the API description ---------------------------------------------------------------------


def _document(wrapper):
    """Add the header, and the replay marker on success answers, to the operation's doc."""
    # flask-smorest keeps each operation's doc on the view function; its own decorators append
    # parameters here the same way, and a headers schema becomes header parameters.
    apidoc = copy.deepcopy(getattr(wrapper, "_apidoc", {}))
    arguments = apidoc.setdefault("arguments", {})
    arguments.setdefault("parameters", []).append(
        {"in": "headers", "required": False, "schema": IdempotencyHeaderSchema}
    )
    arguments.setdefault("responses", {})
    for status, answers in apidoc.get("response", {}).get("responses", {}).items():
        if 200 <= int(status) < 300:
            for answer in answers:
                answer.setdefault("headers", {})[REPLAYED_HEADER] = {
                    "description": "`true` when this is the stored answer to an earlier "
                    "request with the same Idempotency-Key.",
                    "schema": {"type": "string", "enum": ["true"]},
                }
    wrapper._apidoc = apidoc
