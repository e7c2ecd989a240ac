"""Random sequences of deposits, trades, quotes, clock advances and lazy releases,
through the services layer, on both databases; the books are checked after every step.

Two customer accounts per run:

* ``held_only`` only ever receives card and PayPal deposits (all held). Trading
  never turns held value into withdrawable value, so until one of its holds is
  released its withdrawable balance is zero in every asset.
* ``mixed`` receives deposits of every method.

For an asset an account never traded, the model predicts Available and Held
exactly: unheld deposits plus released holds, and the holds still active.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Connection, func, select

from service.config import Settings
from service.db.database import Database
from service.db.tables import balances, hold_lots, holds, journal_entries, ledger_accounts
from service.domain.accounts import Tier
from service.domain.chart import Bucket
from service.domain.errors import Conflict
from service.domain.holds import Method
from service.domain.money import Amount, Asset
from service.services import deposits as deposit_service
from service.services import trades as trade_service
from service.services.accounts import OpenAccount, open_account
from service.services.balances import account_balances
from service.services.verify import verify

SCALES = {"USD": 2, "EUR": 2, "GBP": 2, "BTC": 8, "ETH": 8, "USDT": 6}
ASSETS = sorted(SCALES)
HELD_METHODS = (Method.CARD, Method.PAYPAL)
START = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)  # a Friday, 15:00 in New York


def amount(minor: int, code: str) -> Amount:
    return Amount.from_minor(minor, Asset(code, SCALES[code]))


@dataclass
class DepositRecord:
    method: Method
    asset: str
    minor: int
    release_at: datetime | None  # None: not held


@dataclass
class Model:
    """What we expect of one customer account."""

    id: uuid.UUID
    held_only: bool
    #: available + held per asset, in minor units (customer-positive)
    total: dict[str, int] = field(default_factory=dict)
    deposits: list[DepositRecord] = field(default_factory=list)
    traded: set[str] = field(default_factory=set)
    #: the latest time a lazy release ran for the account (holds due then are released)
    released_through: datetime | None = None

    def released(self, record: DepositRecord) -> bool:
        return (
            record.release_at is not None
            and self.released_through is not None
            and record.release_at <= self.released_through
        )


def buckets(conn: Connection, account_id: uuid.UUID) -> dict[tuple[str, str], int]:
    """(bucket, asset) -> customer-positive balance, straight from the balances table."""
    rows = conn.execute(
        select(ledger_accounts.c.bucket, balances.c.asset, balances.c.balance)
        .join(ledger_accounts, ledger_accounts.c.id == balances.c.ledger_account_id)
        .where(balances.c.account_id == account_id)
    )
    return {(bucket, asset): -balance for bucket, asset, balance in rows}


def journal_size(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(journal_entries)).scalar_one())


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db
        self.settings = Settings(database_url=db.url)
        self.now = START
        self.accounts: dict[str, Model] = {}

    # -- set-up -------------------------------------------------------------------

    @initialize()
    def open_accounts(self) -> None:
        for name in ("held_only", "mixed"):
            with self.db.write() as tx:
                record = open_account(
                    tx,
                    OpenAccount(f"{name}-{uuid.uuid4().hex}", "GB", Tier.BASIC),
                    client_country="GB",
                    blocked=frozenset({"US"}),
                    now=self.now,
                )
            self.accounts[name] = Model(record.id, held_only=name == "held_only")
        # some money to trade with from the start
        self._deposit(self.accounts["held_only"], Method.CARD, "USD", 10_000, self.now)
        self._deposit(self.accounts["mixed"], Method.PAYPAL, "EUR", 5_000, self.now)
        self._deposit(self.accounts["mixed"], Method.CRYPTO, "BTC", 150_000, self.now)

    # -- rules --------------------------------------------------------------------

    @rule(
        name=st.sampled_from(["held_only", "mixed"]),
        method=st.sampled_from(list(Method)),
        asset=st.sampled_from(ASSETS),
        data=st.data(),
        hours_ago=st.sampled_from([0, 0, 0, 1, 7, 30, 70]),
    )
    def deposit(
        self, name: str, method: Method, asset: str, data: st.DataObject, hours_ago: int
    ) -> None:
        model = self.accounts[name]
        if model.held_only and method not in HELD_METHODS:
            method = Method.CARD if method is Method.BANK_TRANSFER else Method.PAYPAL
        scale = SCALES[asset]
        minor = data.draw(st.integers(min_value=1, max_value=10 ** (scale + 3)), label="minor")
        self._deposit(model, method, asset, minor, self.now - timedelta(hours=hours_ago))

    def _deposit(
        self, model: Model, method: Method, asset: str, minor: int, settled_at: datetime
    ) -> None:
        cmd = deposit_service.DepositCommand(
            account_id=model.id,
            method=method,
            asset=asset,
            amount=amount(minor, asset).value,
            external_ref=f"dep-{uuid.uuid4().hex}",
            settled_at=settled_at,
        )
        with self.db.write() as tx:
            view = deposit_service.record_deposit(tx, cmd, settings=self.settings, now=self.now)
        assert view.amount == amount(minor, asset)
        assert view.status == "settled"
        assert view.settled_at == settled_at
        if method in HELD_METHODS:
            assert view.hold is not None
            assert view.hold.status == "active"
            assert view.hold.release_at > settled_at
            # three business days (less one hour across a spring DST change)
            assert view.hold.release_at - settled_at >= timedelta(days=3, hours=-1)
            release_at: datetime | None = view.hold.release_at
        else:
            assert view.hold is None
            release_at = None
        model.deposits.append(DepositRecord(method, asset, minor, release_at))
        model.total[asset] = model.total.get(asset, 0) + minor

    @rule(name=st.sampled_from(["held_only", "mixed"]), data=st.data())
    def trade(self, name: str, data: st.DataObject) -> None:
        model = self.accounts[name]
        funded = sorted(a for a, minor in model.total.items() if minor > 0)
        # mostly spend what is there; sometimes more than there is (must be refused)
        too_much = not funded or data.draw(st.integers(0, 4), label="over") == 0
        sell = data.draw(st.sampled_from(ASSETS if too_much else funded), label="sell")
        buy = data.draw(st.sampled_from([a for a in ASSETS if a != sell]), label="buy")
        have = model.total.get(sell, 0)
        if too_much:
            sold = have + data.draw(st.integers(1, 10 ** SCALES[sell]), label="excess")
        else:
            sold = data.draw(st.one_of(st.just(have), st.integers(1, have)), label="sold")
        bought = data.draw(st.integers(1, 10 ** (SCALES[buy] + 3)), label="bought")
        fee = 0
        if bought > 1 and data.draw(st.booleans(), label="with fee"):
            fee = data.draw(st.integers(1, bought - 1), label="fee")
        cmd = trade_service.TradeCommand(
            account_id=model.id,
            sell_asset=sell,
            sell_amount=amount(sold, sell).value,
            buy_asset=buy,
            buy_amount=amount(bought, buy).value,
            external_ref=f"fill-{uuid.uuid4().hex}",
            fee_asset=buy if fee else None,
            fee_amount=amount(fee, buy).value if fee else None,
        )

        with self.db.read() as conn:
            before = buckets(conn, model.id)
            entries_before = journal_size(conn)
        held_before = before.get((Bucket.HELD.value, sell), 0)

        if too_much:
            with pytest.raises(Conflict) as refused, self.db.write() as tx:
                trade_service.settle_trade(tx, cmd, now=self.now)
            assert refused.value.code == "insufficient_funds"
            event("trade refused: insufficient funds")
            with self.db.read() as conn:
                assert buckets(conn, model.id) == before
                assert journal_size(conn) == entries_before
            return

        with self.db.write() as tx:
            view = trade_service.settle_trade(tx, cmd, now=self.now)
        assert view.sell_amount == amount(sold, sell)
        assert view.buy_amount == amount(bought, buy)
        # held funds are spent first; the part of the proceeds they bought stays held,
        # rounded toward the held side
        held_sold = min(sold, held_before)
        assert view.held_part.sold == amount(held_sold, sell)
        exact = Decimal(bought - fee) * held_sold / sold
        assert view.held_part.bought.minor == min(
            int(exact.to_integral_value(rounding=ROUND_CEILING)), bought - fee
        )
        model.total[sell] = have - sold
        model.total[buy] = model.total.get(buy, 0) + bought - fee
        model.traded.update({sell, buy})
        event("trade settled" + (" (held funds)" if held_sold else ""))

    @rule(
        name=st.sampled_from(["held_only", "mixed"]),
        method=st.sampled_from(list(Method)),
        asset=st.sampled_from(ASSETS),
        minor=st.integers(1, 10**6),
    )
    def quote(self, name: str, method: Method, asset: str, minor: int) -> None:
        model = self.accounts[name]
        with self.db.read() as conn:
            entries_before = journal_size(conn)
            before = buckets(conn, model.id)
            view = deposit_service.quote(
                conn,
                account_id=model.id,
                method=method,
                asset=asset,
                amount=amount(minor, asset).value,
                at=self.now,
                settings=self.settings,
            )
        assert view.amount == amount(minor, asset)
        assert view.available_to_trade_at == self.now
        if method in HELD_METHODS:
            assert view.hold_business_days == 3
            assert view.available_to_withdraw_at - self.now >= timedelta(days=3, hours=-1)
        else:
            assert view.hold_business_days == 0
            assert view.available_to_withdraw_at == self.now
        with self.db.read() as conn:
            assert journal_size(conn) == entries_before
            assert buckets(conn, model.id) == before

    @rule(hours=st.sampled_from([1, 5, 24, 48, 72, 120]))
    def advance_clock(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @rule(name=st.sampled_from(["held_only", "mixed"]))
    def read_balances(self, name: str) -> None:
        """The lazy release: reading balances releases the account's due holds."""
        model = self.accounts[name]
        view = account_balances(self.db, model.id, self.now)
        model.released_through = self.now
        if any(model.released(d) for d in model.deposits):
            event("balances read after a release")
        rows = {row.asset: row for row in view.balances}
        for asset, total in model.total.items():
            row = rows[asset]
            assert row.available_to_trade.minor == total, asset
            assert row.total.minor == total, asset
            assert row.pending_withdrawals.minor == 0
            assert row.available_to_trade.minor == (
                row.available_to_withdraw.minor + row.temporary_holds.minor
            )
            if asset in model.traded:
                continue
            records = [d for d in model.deposits if d.asset == asset]
            active = [d for d in records if d.release_at is not None and not model.released(d)]
            assert row.temporary_holds.minor == sum(d.minor for d in active), asset
            assert row.available_to_withdraw.minor == sum(
                d.minor for d in records if d.release_at is None or model.released(d)
            ), asset
            expected_next = min((d.release_at for d in active if d.release_at), default=None)
            assert row.next_release_at == expected_next, asset
        with self.db.read() as conn:
            due_active = conn.execute(
                select(func.count())
                .select_from(holds)
                .where(
                    holds.c.account_id == model.id,
                    holds.c.status == "active",
                    holds.c.release_at <= self.now,
                )
            ).scalar_one()
        assert due_active == 0

    # -- invariants -----------------------------------------------------------------

    @invariant()
    def books_are_sound(self) -> None:
        with self.db.read() as conn:
            assert verify(conn) == []
            per_asset = conn.execute(
                select(balances.c.asset, func.sum(balances.c.balance)).group_by(balances.c.asset)
            ).all()
            assert all(total == 0 for _, total in per_asset), per_asset

    @invariant()
    def accounts_match_the_model(self) -> None:
        with self.db.read() as conn:
            for model in self.accounts.values():
                figures = buckets(conn, model.id)
                lots = dict(
                    conn.execute(
                        select(hold_lots.c.asset, func.sum(hold_lots.c.amount))
                        .where(
                            hold_lots.c.account_id == model.id,
                            hold_lots.c.status.in_(["active", "frozen"]),
                        )
                        .group_by(hold_lots.c.asset)
                    ).all()
                )
                for asset in ASSETS:
                    available = figures.get((Bucket.AVAILABLE.value, asset), 0)
                    held = figures.get((Bucket.HELD.value, asset), 0)
                    # Held equals the sum of the active (and frozen) lots
                    assert held == int(lots.get(asset) or 0), (asset, held, lots)
                    assert available >= 0, (asset, available)
                    assert held >= 0, (asset, held)
                    assert available + held == model.total.get(asset, 0), asset
                if model.held_only:
                    released = conn.execute(
                        select(func.count())
                        .select_from(holds)
                        .where(holds.c.account_id == model.id, holds.c.status == "released")
                    ).scalar_one()
                    if released == 0:
                        withdrawable = {
                            a: figures.get((Bucket.AVAILABLE.value, a), 0) for a in ASSETS
                        }
                        assert set(withdrawable.values()) == {0}, withdrawable


def test_random_sequences_keep_the_books_sound(db: Database) -> None:
    run_state_machine_as_test(
        lambda: LedgerMachine(db),
        settings=settings(
            max_examples=12,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
