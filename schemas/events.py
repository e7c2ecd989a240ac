"""The event feed and webhook endpoints."""

from __future__ import annotations

from urllib.parse import urlsplit

from marshmallow import Schema, ValidationError, fields, validate

from schemas.common import PageSchema
from schemas.fields import UTCDateTime
from service.domain.events import DELIVERY_STATUSES, ENDPOINT_STATUSES, EVENT_TYPES

_TYPE = fields.String(validate=validate.OneOf(EVENT_TYPES))


class EventArgs(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**62))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    type = fields.List(_TYPE, load_default=list)
    account_id = fields.UUID(load_default=None)
    wait = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=30))


class EventSchema(Schema):
    id = fields.UUID()
    sequence = fields.Integer()
    type = fields.String(metadata={"enum": list(EVENT_TYPES)})
    occurred_at = UTCDateTime()
    account_id = fields.UUID(allow_none=True)
    data = fields.Dict(metadata={"description": "per type, see docs/events.md"})


class EventPageSchema(Schema):
    items = fields.List(fields.Nested(EventSchema))
    next_after = fields.Integer(
        metadata={"description": "pass back as `after`: the last sequence the server looked at"}
    )


def _url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.hostname:
        raise ValidationError("must be an absolute http or https URL")


_DESCRIPTION = validate.Length(max=500)


class EndpointCreateSchema(Schema):
    url = fields.String(required=True, validate=[validate.Length(min=1, max=2000), _url])
    event_types = fields.List(_TYPE, load_default=list)
    description = fields.String(load_default="", validate=_DESCRIPTION)


class EndpointPatchSchema(Schema):
    url = fields.String(validate=[validate.Length(min=1, max=2000), _url])
    event_types = fields.List(_TYPE)
    description = fields.String(validate=_DESCRIPTION)
    status = fields.String(validate=validate.OneOf(ENDPOINT_STATUSES))


class EndpointSchema(Schema):
    id = fields.UUID()
    url = fields.String()
    event_types = fields.List(fields.String())
    description = fields.String()
    status = fields.String(metadata={"enum": list(ENDPOINT_STATUSES)})
    created_at = UTCDateTime()


class EndpointWithSecretSchema(EndpointSchema):
    secret = fields.String(metadata={"description": "whsec_<base64>; shown only here"})


class EndpointPageSchema(PageSchema):
    items = fields.List(fields.Nested(EndpointSchema))


class SecretSchema(Schema):
    secret = fields.String()


class DeliveryArgs(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(DELIVERY_STATUSES))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(load_default=None)


class DeliverySchema(Schema):
    event_id = fields.UUID()
    sequence = fields.Integer()
    event_type = fields.String()
    status = fields.String(metadata={"enum": list(DELIVERY_STATUSES)})
    attempts = fields.Integer()
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    next_attempt_at = UTCDateTime(allow_none=True)
    delivered_at = UTCDateTime(allow_none=True)


class DeliveryPageSchema(PageSchema):
    items = fields.List(fields.Nested(DeliverySchema))


class ReplaySchema(Schema):
    after = fields.Integer(required=True, validate=validate.Range(min=0, max=2**62))


class ReplayResultSchema(Schema):
    queued = fields.Integer()
