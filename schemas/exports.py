"""Query arguments of the accountant exports (API.md, Exports).

``from`` / ``to`` / ``as_of`` are checked for shape here (an ISO date, or an ISO
date-time with an offset); turning them into UTC bounds needs the calendar's
time zone and is the service's job. An empty value counts as absent, so
``?from=&to=`` means "everything up to now"; an absent one loads as ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError

from schemas.fields import Text
from service.domain.errors import ValidationFailed
from service.domain.exports import parse_moment


class MomentText(Text):
    """An ISO date (a whole day in the calendar's time zone) or an ISO date-time
    with an offset; loads to the stripped text (empty when absent)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metadata.setdefault("example", "2026-11-20")  # type: ignore[attr-defined]
        self.metadata.setdefault(  # type: ignore[attr-defined]
            "description",
            "ISO date (a whole day in the calendar's time zone, inclusive) or ISO date-time "
            "with offset",
        )

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            return ""
        try:
            parse_moment(text, attr or "value")
        except ValidationFailed as exc:
            raise ValidationError(exc.detail.split(": ", 1)[-1]) from exc
        return text


class _ExportArgs(Schema):
    """A parameter an export does not take (``to`` on an as-of export, ``as_of``
    on a period export, a misspelling) is refused with 422, never ignored: an
    accountant must not get another period's figures silently."""

    class Meta:
        unknown = RAISE


class PeriodArgs(_ExportArgs):
    """``from`` and ``to``, both inclusive; default: the beginning of the books to now."""

    from_ = MomentText(data_key="from", load_default=None, allow_none=True)
    to = MomentText(load_default=None, allow_none=True)


class AsOfArgs(_ExportArgs):
    """``as_of``, inclusive; default now."""

    as_of = MomentText(load_default=None, allow_none=True)
