"""Journal seals and inclusion proofs (API.md, Journal seals)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class SealSchema(Schema):
    number = fields.Integer(required=True)
    entries = fields.Integer(required=True, metadata={"description": "leaves in the seal"})
    root = fields.String(
        required=True, metadata={"description": "RFC 9162 Merkle Tree Hash, lowercase hex"}
    )
    previous = fields.String(
        allow_none=True, metadata={"description": "hash of the seal before (null for seal 1)"}
    )
    sealed_at = fields.String(required=True, metadata={"description": "UTC, ISO 8601"})
    hash = fields.String(
        required=True,
        metadata={"description": "SHA-256 of the canonical JSON of the other five fields"},
    )


class SealListArgs(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class SealListSchema(Schema):
    items = fields.List(fields.Nested(SealSchema), required=True)
    next_after = fields.Integer(required=True)


class ProofSchema(Schema):
    entry_id = fields.String(required=True)
    seal = fields.Nested(SealSchema, required=True)
    leaf_index = fields.Integer(required=True)
    leaf = fields.String(
        required=True, metadata={"description": "base64 of the leaf (canonical JSON, UTF-8)"}
    )
    audit_path = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "RFC 9162 §2.1.3 audit path, nearest sibling first, hex"},
    )
