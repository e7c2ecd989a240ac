"""Who is signed in to the console, and the cookie that says so.

Sign-in takes an API key once; the session (Flask's signed cookie) then holds
the id of a ``console_sessions`` row and the key's name and role, never the
key itself. Every request reads that row and its key again, so signing out,
the 8 hours running out, or the key being revoked ends the session at once,
also for a copy of the cookie; and a role can do exactly what it may do
through the API (:mod:`service.domain.roles`).

The cookie is ``HttpOnly``, ``SameSite=Strict``, and ``Secure`` whenever the
request came over TLS (or the deployment says always); it expires with the
session (8 hours from sign-in, not refreshed by later requests).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from threading import Lock
from typing import Any, TypeVar, cast

from flask import Flask, Request, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from service.api.runtime import runtime
from service.domain.errors import Forbidden
from service.domain.roles import ApiKeyRecord, Role, may
from service.services import console_sessions, session_secret

F = TypeVar("F", bound=Callable[..., Any])

#: The URL prefix of the console: only its requests open a session.
PREFIX = "/console"


@dataclass(frozen=True, slots=True)
class Staff:
    """The signed-in person, known by their API key's name and role."""

    key_id: uuid.UUID
    name: str
    role: Role

    def may(self, granted: frozenset[Role]) -> bool:
        return may(self.role, granted)


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, limited to the console's paths.

    REST requests (bearer keys, no cookies) get no session, so they never load
    the signing secret nor set a cookie. The secret is loaded on the first
    console request, from the deployment or the database (it may not exist yet
    when the app is created, before ``ledger db upgrade``).
    """

    def __init__(self) -> None:
        self._lock = Lock()

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not (request.path == PREFIX or request.path.startswith(PREFIX + "/")):
            return None
        self._load_secret(app)
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        self._load_secret(app)
        return super().get_signing_serializer(app)

    def _load_secret(self, app: Flask) -> None:
        if app.secret_key:
            return
        with self._lock:
            if not app.secret_key:
                rt = runtime()
                if rt.settings.secret_key:
                    app.secret_key = rt.settings.secret_key
                else:
                    with rt.db.write() as tx:
                        app.secret_key = session_secret.console_secret(tx, rt.now())


def sign_in(key: ApiKeyRecord) -> None:
    """Start a fresh session for ``key`` (a new CSRF token with it)."""
    rt = runtime()
    with rt.db.write() as tx:
        session_id = console_sessions.start(tx, key, rt.now())
    session.clear()
    session.permanent = True
    session["sid"] = str(session_id)
    session["name"] = key.name
    session["role"] = key.role.value


def sign_out() -> None:
    """End the session on the server, then forget the cookie."""
    session_id = _session_id()
    if session_id is not None:
        rt = runtime()
        with rt.db.write() as tx:
            console_sessions.end(tx, session_id, rt.now())
    session.clear()


def _session_id() -> uuid.UUID | None:
    try:
        return uuid.UUID(str(session.get("sid", "")))
    except ValueError:
        return None


def current_staff() -> Staff | None:
    """The signed-in staff member; ``None`` (and the cookie forgotten) when there
    is none, or the session ended, expired, or its key is gone or changed."""
    if "staff" in g:
        return cast(Staff | None, g.staff)
    g.staff = None
    session_id = _session_id()
    if session_id is None:
        return None
    rt = runtime()
    with rt.db.read() as conn:
        key = console_sessions.live_key(conn, session_id, rt.now())
    if key is None or key.role.value != session.get("role"):
        session.clear()
        return None
    g.staff = Staff(key.id, key.name, key.role)
    return cast(Staff, g.staff)


def signed_in(granted: frozenset[Role] | None = None) -> Callable[[F], F]:
    """Require a signed-in key; with ``granted``, one whose role may do that
    (else the 403 page). Not signed in: to the sign-in form."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            staff = current_staff()
            if staff is None:
                return redirect(url_for("console.sign_in", next=request.full_path))
            if granted is not None and not staff.may(granted):
                raise Forbidden(
                    f"the {staff.role.value} role may not use this page", code="forbidden"
                )
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def staff() -> Staff:
    """The signed-in staff member of a view behind :func:`signed_in`."""
    found = current_staff()
    assert found is not None, "view is missing @signed_in"
    return found
