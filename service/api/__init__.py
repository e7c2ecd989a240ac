"""The REST entry point: a Flask app built with flask-smorest (OpenAPI at
``/openapi.json``, Swagger UI at ``/docs``). Imports services, never the reverse."""

from __future__ import annotations

import http
from typing import Any

from flask import Flask, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from schemas.common import ProblemSchema
from service.api import auth, docs, health, limits, openapi, problems
from service.api.auth import BEARER_SCHEME
from service.api.runtime import Runtime
from service.config import Settings
from service.db.database import Database
from service.services.keys import KeyCache


class LedgerApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, answering every HTTP error as RFC 9457 problem+json,
    and documenting the errors that way (not as its default error body)."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error: HTTPException) -> Any:
        """Authenticate before saying a /v1 resource does not exist: a path id
        that is not a UUID matches no route, and an anonymous caller must get
        401 there as anywhere else, not learn which paths exist."""
        if error.code in (404, 405) and request.path.startswith("/v1/"):
            try:
                auth.authenticate()
            except problems.Unauthorized as refused:
                return problems.from_ledger_error(refused)
        return problems.from_http_exception(error)

    def _register_responses(self) -> None:
        """One component response per HTTP status (and ``DEFAULT_ERROR``), each a
        problem+json body; registered lazily, so only those used appear."""
        for status in http.HTTPStatus:
            if status >= 400:
                self.spec.components.response(
                    status.name, openapi.problem_response(status), lazy=True
                )
        default = {**openapi.problem_response(http.HTTPStatus.BAD_REQUEST)}
        default["description"] = "Any other error, as problem+json"
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, default, lazy=True)


def create_app(settings: Settings | None = None, db: Database | None = None) -> Flask:
    settings = settings or Settings.from_env()
    db = db or Database(settings.database_url, pool_size=settings.pool_size)
    app = Flask("ledger")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config.update(
        MAX_CONTENT_LENGTH=limits.MAX_BODY_BYTES,
        API_TITLE="Withdrawal-hold ledger",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=docs.ASSETS_URL,
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearer": BEARER_SCHEME}},
            "security": [{"bearer": []}],
            "info": {
                "description": "Double-entry ledger with business-day withdrawal holds. "
                "Amounts are decimal strings; errors are RFC 9457 problem+json with a stable "
                "`code`. Every operation needs `Authorization: Bearer <api key>` and lists the "
                "roles allowed to use it (`x-roles`); money movements also need an "
                "`Idempotency-Key` and the client country header."
            },
        },
    )
    app.extensions["ledger"] = Runtime(settings=settings, db=db, keys=KeyCache(db))
    api = LedgerApi(app, spec_kwargs={"extra_plugins": [openapi.LedgerDocs()]})
    openapi.register_components(api.spec, country_header=settings.country_header)
    problems.install(app)
    app.register_blueprint(health.blp)
    app.register_blueprint(docs.blp)
    app.before_request(health.start_timer)
    app.before_request(lambda: limits.check_json_body(request))
    app.after_request(health.observe)

    from service.api import (
        accounts,
        chargebacks,
        compliance,
        events,
        exports,
        money,
        operations,
        seals,
        withdrawals,
    )

    for blueprint in (
        accounts.blp,
        money.blp,
        operations.blp,
        exports.blp,
        withdrawals.blp,
        chargebacks.blp,
        compliance.blp,
        seals.blp,
        events.blp,
    ):
        api.register_blueprint(blueprint, url_prefix="/v1")

    from service import console

    console.install(app, settings)
    return app
