"""The event feed and webhook endpoints (API.md, Events and Webhooks)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from schemas.common import PageArgs
from schemas.events import (
    DeliveryArgs,
    DeliveryPageSchema,
    EndpointCreateSchema,
    EndpointPageSchema,
    EndpointPatchSchema,
    EndpointSchema,
    EndpointWithSecretSchema,
    EventArgs,
    EventPageSchema,
    ReplayResultSchema,
    ReplaySchema,
    SecretSchema,
)
from service.api.auth import requires
from service.api.runtime import runtime
from service.domain.roles import MANAGE_WEBHOOKS, READERS
from service.services import events, webhooks
from service.services.views import Page

blp = Blueprint("events", __name__, description="Event feed and webhooks")


@blp.route("/events")
class Events(MethodView):
    @requires(*READERS)
    @blp.arguments(EventArgs, location="query")
    @blp.response(200, EventPageSchema)
    def get(self, args: dict[str, Any]) -> Response:
        """Events after `after`, ascending `sequence`; pass `next_after` back as `after`.

        A reader that always passes back `next_after` sees every event exactly
        once, in order, even when the transactions that wrote them commit out
        of order. `type` may repeat. `wait` (0-30 s) makes it a long poll: with
        nothing to return, the answer comes as soon as a matching event
        commits, or after `wait` seconds with no items. `after` behind the
        retention → 410 `cursor_expired`.
        """
        rt = runtime()
        wait = min(float(args["wait"]), rt.settings.event_max_wait_seconds)
        page = events.read_feed(
            rt.db,
            after=args["after"],
            limit=args["limit"],
            types=tuple(args["type"]),
            account_id=args["account_id"],
            wait=wait,
            waiter=rt.event_notifier().wait if wait > 0 else None,
            clock=time.monotonic,
        )
        return Response(page.to_json(), status=200, mimetype="application/json")


@blp.route("/webhook-endpoints")
class Endpoints(MethodView):
    @requires(*MANAGE_WEBHOOKS)
    @blp.arguments(EndpointCreateSchema)
    @blp.response(201, EndpointWithSecretSchema)
    def post(self, body: dict[str, Any]) -> webhooks.EndpointView:
        """Register an endpoint; the answer carries its `whsec_` secret (shown only here).

        It receives the events committed from now on; `event_types` absent or
        empty means all types.
        """
        rt = runtime()
        with rt.db.write() as tx:
            return webhooks.create_endpoint(
                tx,
                url=body["url"],
                event_types=body["event_types"],
                description=body["description"],
                now=rt.now(),
            )

    @requires(*MANAGE_WEBHOOKS)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, EndpointPageSchema)
    def get(self, args: dict[str, Any]) -> Page[webhooks.EndpointView]:
        """Webhook endpoints, newest first (never their secrets)."""
        with runtime().db.read() as conn:
            return webhooks.list_endpoints(conn, limit=args["limit"], cursor=args["cursor"])


@blp.route("/webhook-endpoints/<uuid:endpoint_id>")
class Endpoint(MethodView):
    @requires(*MANAGE_WEBHOOKS)
    @blp.response(200, EndpointSchema)
    def get(self, endpoint_id: uuid.UUID) -> webhooks.EndpointView:
        """One endpoint."""
        with runtime().db.read() as conn:
            return webhooks.get_endpoint(conn, endpoint_id)

    @requires(*MANAGE_WEBHOOKS)
    @blp.arguments(EndpointPatchSchema)
    @blp.response(200, EndpointSchema)
    def patch(self, body: dict[str, Any], endpoint_id: uuid.UUID) -> webhooks.EndpointView:
        """Change `url`, `event_types`, `description` or `status` (`enabled`|`disabled`)."""
        rt = runtime()
        with rt.db.write() as tx:
            return webhooks.update_endpoint(tx, endpoint_id, body, now=rt.now())

    @requires(*MANAGE_WEBHOOKS)
    @blp.response(204)
    def delete(self, endpoint_id: uuid.UUID) -> Response:
        """Delete the endpoint and its deliveries."""
        with runtime().db.write() as tx:
            webhooks.delete_endpoint(tx, endpoint_id)
        return Response(status=204)


@blp.route("/webhook-endpoints/<uuid:endpoint_id>/rotate-secret")
class RotateSecret(MethodView):
    @requires(*MANAGE_WEBHOOKS)
    @blp.response(200, SecretSchema)
    def post(self, endpoint_id: uuid.UUID) -> dict[str, str]:
        """A new secret; the old one keeps signing beside it for 24 h."""
        rt = runtime()
        with rt.db.write() as tx:
            return {"secret": webhooks.rotate_secret(tx, endpoint_id, now=rt.now())}


@blp.route("/webhook-endpoints/<uuid:endpoint_id>/deliveries")
class Deliveries(MethodView):
    @requires(*MANAGE_WEBHOOKS)
    @blp.arguments(DeliveryArgs, location="query")
    @blp.response(200, DeliveryPageSchema)
    def get(self, args: dict[str, Any], endpoint_id: uuid.UUID) -> Page[Any]:
        """The endpoint's deliveries, newest first."""
        with runtime().db.read() as conn:
            return webhooks.list_deliveries(
                conn,
                endpoint_id,
                status=args["status"],
                limit=args["limit"],
                cursor=args["cursor"],
            )


@blp.route("/webhook-endpoints/<uuid:endpoint_id>/replay")
class Replay(MethodView):
    @requires(*MANAGE_WEBHOOKS)
    @blp.arguments(ReplaySchema)
    @blp.response(202, ReplayResultSchema)
    def post(self, body: dict[str, Any], endpoint_id: uuid.UUID) -> tuple[dict[str, int], int]:
        """Send again every matching event after `after` (queued behind pending ones)."""
        rt = runtime()
        with rt.db.write() as tx:
            queued = webhooks.replay(tx, endpoint_id, after=body["after"], now=rt.now())
        return {"queued": queued}, 202
