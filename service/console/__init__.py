"""The console: server-rendered pages for support and compliance staff at
``/console/``, in the REST app, over the same services and role rules
(docs/console.md).

Only the console uses cookies, so only the console checks CSRF tokens
(Flask-WTF's ``CSRFProtect`` with the default check off, called by the
console's own ``before_request``): the bearer-key REST API is unchanged.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from service.config import Settings
from service.console.pages import blp, csrf
from service.console.session import ConsoleSessionInterface
from service.services.console_sessions import SESSION_LIFETIME


def install(app: Flask, settings: Settings) -> None:
    """Add the console to ``app``: session cookie, CSRF, error pages, routes."""
    app.config.update(
        SESSION_COOKIE_NAME="ledger_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        SESSION_COOKIE_PATH="/console",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=int(SESSION_LIFETIME.total_seconds()),
    )
    if settings.secret_key:
        app.secret_key = settings.secret_key
    app.session_interface = ConsoleSessionInterface()
    if settings.trusted_proxies:
        # Only the scheme: the API's view of client addresses and hosts is unchanged.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=0, x_proto=settings.trusted_proxies, x_host=0
        )
    csrf.init_app(app)
    app.register_blueprint(blp)
