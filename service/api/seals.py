"""Journal seals over REST: the seals, an entry's inclusion proof, seals.csv.

Readable by accountant, compliance and operations keys (and admin).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from schemas.seals import ProofSchema, SealListArgs, SealListSchema, SealSchema
from service.api.auth import requires
from service.api.exports import _Body
from service.api.responses import json_response
from service.api.runtime import runtime
from service.domain.errors import ValidationFailed
from service.domain.roles import Role
from service.services import seals

blp = Blueprint("seals", __name__, description="Journal seals: Merkle roots and inclusion proofs")

_READERS = (Role.ACCOUNTANT, Role.COMPLIANCE, Role.OPERATIONS)
_MAX_NUMBER = 2**31 - 1


@blp.route("/seals")
class Seals(MethodView):
    @requires(*_READERS)
    @blp.arguments(SealListArgs, location="query")
    @blp.response(200, SealListSchema)
    def get(self, args: dict[str, Any]) -> Response:
        """Seals after number `after`, ascending; pass `next_after` back for the next page."""
        items, next_after = seals.list_seals(runtime().db, args["after"], args["limit"])
        return json_response({"items": [s.as_dict() for s in items], "next_after": next_after})


@blp.route("/seals/latest")
class LatestSeal(MethodView):
    @requires(*_READERS)
    @blp.response(200, SealSchema)
    def get(self) -> Response:
        """The latest seal: publish its hash outside the database to pin all history."""
        return json_response(seals.latest_seal(runtime().db).as_dict())


@blp.route("/seals/<string:number>")
class OneSeal(MethodView):
    @requires(*_READERS)
    @blp.response(200, SealSchema)
    def get(self, number: str) -> Response:
        """One seal by number (404 `seal_not_found`)."""
        if not number.isascii() or not number.isdigit() or int(number) > _MAX_NUMBER:
            raise ValidationFailed.field("number", "must be a seal number (a positive integer)")
        return json_response(seals.get_seal(runtime().db, int(number)).as_dict())


@blp.route("/entries/<string:entry_id>/proof")
class EntryProof(MethodView):
    @requires(*_READERS)
    @blp.response(200, ProofSchema)
    def get(self, entry_id: str) -> Response:
        """RFC 9162 §2.1.3 inclusion proof of a journal entry in its seal
        (404 `entry_not_found`, 409 `entry_not_sealed`)."""
        try:
            parsed = uuid.UUID(entry_id)
        except ValueError:
            raise ValidationFailed.field("entry_id", "must be a UUID") from None
        return json_response(seals.proof(runtime().db, parsed))


@blp.route("/exports/seals.csv")
class SealsCsv(MethodView):
    @requires(*_READERS)
    @blp.response(200, content_type="text/csv", description="seals.csv (streamed download)")
    def get(self) -> Response:
        """Every seal: number, sealed_at, entries, root, previous, hash."""
        body = _Body(seals.seals_csv(runtime().export_database()))
        return Response(
            body,
            mimetype="text/csv",
            headers={
                "Content-Disposition": 'attachment; filename="seals.csv"',
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            },
        )
