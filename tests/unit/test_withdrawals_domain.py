"""The pure rules of withdrawals: state machine, rates, limits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from service.domain.errors import Conflict, ValidationFailed
from service.domain.withdrawals import (
    TRANSITIONS,
    Transition,
    Valued,
    WithdrawalKind,
    WithdrawalStatus,
    check_daily_limit,
    initial_status,
    next_status,
    parse_rate,
    usd_value,
)


@pytest.mark.parametrize("transition", list(Transition))
@pytest.mark.parametrize("status", list(WithdrawalStatus))
def test_each_transition_is_allowed_from_one_status_only(
    transition: Transition, status: WithdrawalStatus
) -> None:
    source, target = TRANSITIONS[transition]
    if status is source:
        assert next_status(status, transition) is target
    else:
        with pytest.raises(Conflict) as raised:
            next_status(status, transition)
        assert raised.value.code == "invalid_withdrawal_state"


def test_final_statuses_have_no_way_out() -> None:
    sources = {source for source, _ in TRANSITIONS.values()}
    assert sources == {WithdrawalStatus.REVIEW, WithdrawalStatus.PENDING}


@pytest.mark.parametrize("text", ["67000.00", "1", "0.000000000000000001", "999999999999.5"])
def test_rates_are_exact_decimals(text: str) -> None:
    assert parse_rate(text) == Decimal(text)


@pytest.mark.parametrize(
    "bad",
    [
        67000,
        1.5,
        "0",
        "0.0",
        "-1",
        "1e3",
        " 1",
        "1.",
        ".5",
        "",
        "1.0000000000000000001",
        "1234567890123",
        None,
        True,
    ],
)
def test_bad_rates_are_refused(bad: object) -> None:
    with pytest.raises(ValidationFailed):
        parse_rate(bad)


def test_usd_value_needs_every_rate() -> None:
    assert usd_value(
        [
            Valued("BTC", Decimal("0.5"), Decimal("60000")),
            Valued("USD", Decimal("10.01"), Decimal(1)),
        ]
    ) == Decimal("30010.01")
    with pytest.raises(Conflict) as raised:
        usd_value([Valued("ETH", Decimal(1), None)])
    assert (raised.value.code, raised.value.extra["asset"]) == ("rate_unavailable", "ETH")


def test_daily_limit_is_inclusive() -> None:
    check_daily_limit(used=Decimal(6000), requested=Decimal(4000), limit=Decimal(10000))
    with pytest.raises(Conflict) as raised:
        check_daily_limit(used=Decimal(6000), requested=Decimal("4000.001"), limit=Decimal(10000))
    assert raised.value.extra["limit"] == "10000.00"
    assert raised.value.extra["used"] == "6000.00"


def test_review_above_the_threshold_and_for_final_withdrawals() -> None:
    threshold = Decimal(10000)
    standard = WithdrawalKind.STANDARD
    assert (
        initial_status(kind=standard, value_usd=threshold, threshold=threshold)
        is WithdrawalStatus.PENDING
    )
    assert (
        initial_status(kind=standard, value_usd=Decimal("10000.0001"), threshold=threshold)
        is WithdrawalStatus.REVIEW
    )
    assert (
        initial_status(kind=WithdrawalKind.FINAL, value_usd=Decimal(1), threshold=threshold)
        is WithdrawalStatus.REVIEW
    )
