"""Reference rates (compliance): the USD prices limits and reviews are valued at."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from schemas.compliance import RateListSchema, RatePutSchema, RateSchema
from service.api.auth import current_key, requires
from service.api.runtime import runtime
from service.domain.roles import READERS, Role
from service.services import rates
from service.services.views import Page

blp = Blueprint("compliance", __name__, description="Reference rates")


@blp.route("/rates")
class Rates(MethodView):
    @requires(*READERS)
    @blp.response(200, RateListSchema)
    def get(self) -> Page[rates.RateView]:
        """Every reference rate set (USD needs none: it is 1)."""
        with runtime().db.read() as conn:
            return Page(tuple(rates.list_rates(conn)), None)


@blp.route("/rates/<string:asset>")
class Rate(MethodView):
    @requires(Role.COMPLIANCE)
    @blp.arguments(RatePutSchema)
    @blp.response(200, RateSchema)
    def put(self, body: dict[str, Any], asset: str) -> rates.RateView:
        """Set an asset's USD reference rate (compliance): a decimal string above 0."""
        rt = runtime()
        with rt.db.write() as tx:
            return rates.set_rate(tx, asset, body["usd"], actor=current_key().name, now=rt.now())
