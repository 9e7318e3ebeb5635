"""A reorg deeper than the confirmation depth drops transfers already shown final: the bank brings the
database back to the chain, and every accepted transfer still executes exactly once.

Each bank here has its own anvil: the tests revert the chain under it. `tdw serve`'s bank (SQLite)
stops sending, raises a critical incident and fails `/readyz` until recovery is applied on an
operator's word; `tdw dev`'s (PostgreSQL) recovers on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.anvil import anvil_fixture
from tests.support.api_bank import ApiBank, User, build_api_bank
from tests.support.partner_banks import customer, pay, two_banks
from tests.support.waiting import wait_for
from wallet.bank.users import Principal
from wallet.chain.compiler import Compilation
from wallet.chain.node import AnvilNode
from wallet.ledger.reconcile import reconcile_all
from wallet.vocabulary import Role

recovery_anvil = anvil_fixture(
    "function", "This test's own anvil: it reverts the chain past final transfers."
)


@pytest.fixture(params=["serve-sqlite", "dev-postgresql"])
def bank(
    request: pytest.FixtureRequest,
    recovery_anvil: AnvilNode,
    compilation: Compilation,
    tmp_path_factory: pytest.TempPathFactory,
    new_postgres_database: Any,
) -> Iterator[ApiBank]:
    folder = tmp_path_factory.mktemp("recovery-bank")
    if request.param == "serve-sqlite":
        yield from build_api_bank(f"sqlite:///{folder / 'tdw.db'}", recovery_anvil, compilation, folder)
        return
    with new_postgres_database() as url:
        yield from build_api_bank(url, recovery_anvil, compilation, folder, automatic_recovery=True)


def _rpc(bank: ApiBank, method: str, *params: Any) -> Any:
    return bank.services.bank.w3.provider.make_request(method, list(params))["result"]  # type: ignore[arg-type]


def test_transfers_dropped_after_they_were_final_execute_exactly_once(bank: ApiBank) -> None:
    operator, payer, payee = bank.signup("operator"), bank.signup(), bank.signup()
    source, target = bank.open_account(payer), bank.open_account(payee)
    bank.mint(operator, source, "100.00")
    bank.wait_balance(payer, source, "100.00")
    snapshot = _rpc(bank, "evm_snapshot")
    ids = [bank.pay(payer, source, target, f"{i}.00") for i in (1, 2, 3)]
    for transfer_id in ids:
        assert bank.follow(payer, transfer_id)["state"] == "final"
    bank.wait_balance(payee, target, "6.00")
    wait_for(lambda: len(_events(bank, payee, "funds.received")) == 3)

    # The chain loses every block since the snapshot (all three transfers, final in the database), and
    # goes on producing blocks.
    assert _rpc(bank, "evm_revert", snapshot) is True
    for _ in range(3):
        _rpc(bank, "evm_mine")

    services = bank.services
    staff = bank._officer()
    if not services.recovery.automatic:
        # `tdw serve`: nothing is sent, an operator is told, and the process says it is not ready.
        wait_for(services.incidents.halted, what="a critical incident")
        ready = bank.client.get("/readyz")
        assert ready.status_code == 503
        assert any("chain_behind" in p or "deep_reorg" in p for p in ready.json()["problems"])
        # Reconciliation names each transfer shown final that the chain does not hold (balances alone
        # would not: the mirror rolled back with the chain).
        tokens = [str(t.address) for t in services.bank.tokens.values()]
        reconciled = reconcile_all(
            services.bank.sessions, services.bank.w3, tokens, services.bank.w3.eth.block_number
        )
        missing = {d.subject for d in reconciled.differences if d.kind == "transfer"}
        assert missing == set(ids), [d.line() for d in reconciled.differences]
        fork = services.recovery.check()
        assert fork is not None
        report = services.recovery.recover(fork, by="operator")
        assert report.rows_rebroadcast >= 1
    # Every transfer executes again, exactly once, and ends final: the balances are the chain's, and
    # what the ledger shows agrees with the chain.
    token = services.bank.token("USD").contract
    wait_for(lambda: token.functions.balanceOf(target["address"]).call() == 600, what="re-execution")
    assert token.functions.balanceOf(source["address"]).call() == 9_400
    for transfer_id in ids:
        assert bank.follow(payer, transfer_id)["state"] == "final"
    bank.wait_balance(payee, target, "6.00")
    bank.wait_balance(payer, source, "94.00")

    # Customers were told: each transfer went back to submitted, and credits that vanished were retracted.
    def states() -> list[str]:
        return [
            e["data"]["state"]
            for e in _events(bank, payer, "transfer.state")
            if e["data"]["transfer_id"] == ids[0]
        ]

    # The event pump publishes the last state a moment after the API shows it.
    told = wait_for(lambda: states() if states()[-1] == "final" else None, what="the final event again")
    assert told.index("final") < told.index("submitted", told.index("final"))
    assert told[-1] == "final"
    retracted = wait_for(lambda: _events(bank, payee, "funds.retracted"))
    received = _events(bank, payee, "funds.received")
    # The three credits were announced, retracted with their old transaction, and announced again.
    assert len(retracted) == 3
    assert {e["data"]["tx_hash"] for e in retracted} <= {e["data"]["tx_hash"] for e in received}
    wait_for(lambda: len(_events(bank, payee, "funds.received")) == 6)
    head = services.bank.w3.eth.block_number
    wait_for(lambda: (services.bank.mirror_block() or 0) >= head)
    addresses = [str(t.address) for t in services.bank.tokens.values()]
    assert reconcile_all(services.bank.sessions, services.bank.w3, addresses, head).differences == []
    # The reorg is on record, its incidents are resolved, and the process is ready again.
    kinds = {i.kind for i in services.incidents.recent(staff)}
    assert "deep_reorg" in kinds
    # In `tdw dev` the indexer's deep-reorg incident may open after the recovery it calls for; the
    # watchdog's next pass (each second) resolves it.
    wait_for(lambda: services.incidents.open_critical() == [], timeout=10, what="incidents resolved")
    assert bank.client.get("/readyz").status_code == 200
    assert services.recovery.check() is None


def _events(bank: ApiBank, user: User, kind: str) -> list[dict[str, Any]]:
    return [
        {"type": e.type, "data": e.payload}
        for e in bank.services.feed.since(user.user_id, 0, 1000)
        if e.type == kind
    ]


def test_a_conversion_dropped_after_it_was_final_settles_exactly_once(bank: ApiBank) -> None:
    """A conversion shown final that a deep reorg took away is sent again from its signed bytes and
    settles once: the customer and the FX book end as if the reorg had not happened."""
    services = bank.services
    operator, alice = bank.signup("operator"), bank.signup()
    dollars, euros = bank.open_account(alice, "USD"), bank.open_account(alice, "EUR")
    bank.mint(operator, dollars, "100.00")
    treasury = services.bank.role_address("treasury")
    staff = Principal(operator.user_id, operator.username, Role.OPERATOR)
    view, _ = services.operations.mint(
        staff, idempotency_key="book", currency="EUR", amount="1000.00", to_address=treasury
    )
    bank.settle_operation(operator, view.id)
    bank.wait_balance(alice, dollars, "100.00")
    snapshot = _rpc(bank, "evm_snapshot")
    quote = bank.client.post(
        "/v1/fx/quotes", json={"sell": "USD", "buy": "EUR", "sell_amount": "40.00"}, headers=alice.headers
    ).json()
    r = bank.client.post(
        "/v1/fx/conversions",
        json={"quote_id": quote["id"]},
        headers={**alice.headers, "Idempotency-Key": "reorged"},
    )
    assert r.status_code == 201, r.text
    path = f"/v1/fx/conversions/{r.json()['id']}"
    wait_for(lambda: bank.client.get(path, headers=alice.headers).json()["state"] == "final")
    bought = int(quote["buy"]["amount"].replace(".", ""))

    assert _rpc(bank, "evm_revert", snapshot) is True
    for _ in range(3):
        _rpc(bank, "evm_mine")
    if not services.recovery.automatic:
        wait_for(services.incidents.halted, what="a critical incident")
        fork = services.recovery.check()
        assert fork is not None
        services.recovery.recover(fork, by="operator")
    # Back on its way, then settled again, once.
    usd, eur = services.bank.token("USD").contract, services.bank.token("EUR").contract
    wait_for(lambda: eur.functions.balanceOf(euros["address"]).call() == bought, what="the conversion again")
    wait_for(lambda: bank.client.get(path, headers=alice.headers).json()["state"] == "final")
    assert usd.functions.balanceOf(dollars["address"]).call() == 6_000
    assert eur.functions.balanceOf(treasury).call() == 100_000 - bought
    assert usd.functions.balanceOf(treasury).call() == 4_000
    told = [e["data"]["state"] for e in _events(bank, alice, "settlement.state")]
    assert told[:2] == ["submitted", "settled"]
    assert "submitted" in told[2:]
    assert told[-2:] == ["settled", "final"]  # told once more when it was final again
    bank.wait_balance(alice, euros, quote["buy"]["amount"])


@pytest.fixture
def banks(
    recovery_anvil: AnvilNode, compilation: Compilation, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiBank, ApiBank]]:
    """The demo bank and Harbour Bank on this test's own anvil, each recovering on its own."""
    yield from two_banks(recovery_anvil, compilation, tmp_path_factory, automatic_recovery=True)


def test_a_payment_the_partner_bank_sent_dropped_after_it_was_final_settles_exactly_once(
    banks: tuple[ApiBank, ApiBank],
) -> None:
    """Alice pays Carol across the banks; Harbour Bank signs last and sends the settlement, the demo bank
    only watches for it. A reorg takes it away after both showed it final: the demo bank moves it back,
    Harbour Bank sends it again from its signed bytes, and it settles once, where the chain now has it."""
    demo, harbour = banks
    alice, dollars = customer(demo, "USD", "100.00", "Alice Example")
    carol = harbour.signup(full_name="Carol Chan")
    hkd = harbour.open_account(carol, "HKD")
    snapshot = _rpc(demo, "evm_snapshot")
    quote, r = pay(demo, alice, "harbour", "USD", "HKD", "40.00", hkd, "Carol Chan")
    assert r.status_code == 201, r.text
    path = f"/v1/cross-border/payments/{r.json()['id']}"

    def final() -> dict[str, Any] | None:
        view: dict[str, Any] = demo.client.get(path, headers=alice.headers).json()
        return view if view["state"] == "final" else None

    first = wait_for(final, what="the payment final")
    settlement = bytes.fromhex(first["settlement_id"][2:])
    contract = demo.services.bank.settlements.contract  # type: ignore[union-attr]

    # The demo bank's watcher looks away while the chain loses the settlement and Harbour Bank sends it
    # again, so that it next sees it settled, but in another block than the one it recorded.
    crossborder = demo.services.crossborder
    watch = crossborder._watch
    crossborder._watch = lambda _: 0  # type: ignore[method-assign, assignment]
    try:
        assert _rpc(demo, "evm_revert", snapshot) is True
        assert contract.functions.stateOf(settlement).call() == 0  # the chain no longer holds it
        # Past the block that held it, in one call: sent again, it cannot land in the same block number.
        head = demo.services.bank.w3.eth.block_number
        _rpc(demo, "anvil_mine", hex(first["block_number"] - head + 3))
        wait_for(lambda: contract.functions.stateOf(settlement).call() == 1, what="the settlement again")
    finally:
        crossborder._watch = watch  # type: ignore[method-assign]
    now = demo.services.bank.w3.eth.get_transaction_receipt(first["tx_hash"])
    assert now["blockNumber"] != first["block_number"]

    def where_the_chain_has_it() -> dict[str, Any] | None:
        view = final()
        return view if view and view["block_number"] == now["blockNumber"] else None

    again = wait_for(where_the_chain_has_it, what="the payment shown where the chain has it now")
    assert (again["tx_hash"], now["status"]) == (first["tx_hash"], 1)
    usd = demo.services.bank.token("USD").contract
    hkd_token = harbour.services.bank.token("HKD").contract
    assert usd.functions.balanceOf(dollars["address"]).call() == 6_000
    credit = int(quote["buy"]["amount"].replace(".", ""))
    assert hkd_token.functions.balanceOf(hkd["address"]).call() == credit
    harbour.wait_balance(carol, hkd, quote["buy"]["amount"])
