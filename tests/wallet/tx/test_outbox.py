"""The outbox's hard paths on anvil: resuming after a crash, nonce gaps, stuck transactions and reorgs."""

from typing import Any

import pytest
from sqlalchemy import select
from web3 import Web3
from web3.types import RPCEndpoint

from tests.support.clock import ManualClock
from tests.support.custody_bank import Custody, attach, build
from tests.support.rpc_proxy import RpcProxy
from wallet.chain.compiler import Compilation
from wallet.chain.node import http_web3
from wallet.db.models import ChainTx
from wallet.tx.outbox import OutboxConfig


def _rpc(w3: Web3, method: str, *params: object) -> Any:
    return w3.provider.make_request(RPCEndpoint(method), list(params))["result"]


def _rows(custody: Custody) -> list[ChainTx]:
    with custody.sessions() as s:
        return list(s.scalars(select(ChainTx).order_by(ChainTx.nonce, ChainTx.created_at)))


def test_a_restart_broadcasts_the_stored_raw_transaction_and_never_re_signs(
    chain: Web3, compilation: Compilation, db_url: str
) -> None:
    custody, config = build(chain, compilation, db_url, customers=2, balance=100)
    a, b = custody.customers
    custody.transfers.submit(idempotency_key="r1", token=custody.token.address, payer=a, payee=b, value=5)
    tx = custody.transfers.relay(custody.outbox)
    assert tx is not None
    custody.outbox._sign(tx)  # the process dies right after the raw transaction is stored
    [stored] = _rows(custody)
    assert stored.status == "signed"
    assert stored.raw_tx
    restarted = attach(chain, config)
    restarted.settle()
    [row] = _rows(restarted)
    assert row.status in ("included", "final")
    assert row.tx_hash == stored.tx_hash
    assert row.raw_tx == stored.raw_tx
    assert row.attempt_hashes == [stored.tx_hash]
    assert restarted.token.functions.balanceOf(b).call() == 105


def test_a_row_that_failed_before_broadcast_leaves_a_gap_that_is_filled(
    chain: Web3, compilation: Compilation, db_url: str
) -> None:
    custody, _ = build(chain, compilation, db_url, customers=2, balance=100)
    _, b = custody.customers
    outbox = custody.outbox
    with custody.sessions.begin() as s:
        doomed = outbox.enqueue(s, kind="call", to=b, data=b"", gas_limit=21_000)
    with custody.sessions.begin() as s:
        later = outbox.enqueue(s, kind="call", to=b, data=b"", gas_limit=21_000)
    assert later.nonce == doomed.nonce + 1
    assert outbox._move(
        doomed, status="failed", error_name="SigningError", error_args={"message": "hsm down"}
    )
    outbox.wait_until_settled()
    rows = _rows(custody)
    gap = [r for r in rows if r.kind == "gap"]
    assert len(gap) == 1
    assert gap[0].nonce == doomed.nonce
    assert gap[0].status in ("included", "final")
    assert next(r for r in rows if r.id == later.id).status in ("included", "final")
    assert chain.eth.get_transaction_count(outbox.sender) == later.nonce + 1


def test_a_stuck_transaction_is_replaced_with_a_higher_fee_and_executes_once(
    chain: Web3, compilation: Compilation, db_url: str
) -> None:
    custody, _ = build(chain, compilation, db_url, customers=2, balance=100)
    a, b = custody.customers
    custody.outbox.config = OutboxConfig(confirmations=1, stuck_after=30)
    clock = custody.outbox.clock = ManualClock()
    custody.transfers.submit(idempotency_key="s1", token=custody.token.address, payer=a, payee=b, value=9)
    _rpc(chain, "evm_setAutomine", False)
    try:
        custody.transfers.relay(custody.outbox)
        custody.outbox.process()
        [row] = _rows(custody)
        assert row.status == "broadcast"
        first_fee = row.max_fee_per_gas
        clock.advance(29)
        custody.outbox.process()
        [row] = _rows(custody)
        assert len(row.attempt_hashes) == 1  # not stuck yet
        clock.advance(2)
        custody.outbox.process()
        [row] = _rows(custody)
        assert len(row.attempt_hashes) == 2
        assert row.max_fee_per_gas > first_fee
        assert row.max_priority_fee_per_gas >= 12 * 10**8  # bumped by at least 20%
        _rpc(chain, "evm_mine")
    finally:
        _rpc(chain, "evm_setAutomine", True)
    custody.settle()
    [row] = _rows(custody)
    assert row.status in ("included", "final")
    assert row.tx_hash == row.attempt_hashes[-1]
    assert custody.token.functions.balanceOf(b).call() == 109


def test_a_reorg_sends_the_batch_back_to_broadcast_and_it_executes_on_the_new_branch(
    chain: Web3, compilation: Compilation, db_url: str
) -> None:
    custody, _ = build(chain, compilation, db_url, customers=2, balance=100)
    a, b = custody.customers
    custody.outbox.config = OutboxConfig(confirmations=5, stuck_after=60)
    snapshot = _rpc(chain, "evm_snapshot")
    custody.transfers.submit(idempotency_key="g1", token=custody.token.address, payer=a, payee=b, value=3)
    custody.settle()
    [row] = _rows(custody)
    assert row.status == "included"
    assert custody.token.functions.balanceOf(b).call() == 103
    old_block = row.block_hash
    assert _rpc(chain, "evm_revert", snapshot) is True
    _rpc(chain, "evm_mine")
    _rpc(chain, "evm_mine")  # the new branch is longer and has other blocks at that height
    assert custody.token.functions.balanceOf(b).call() == 100
    custody.outbox.process()  # sees the block hash change and rebroadcasts the stored transaction
    custody.settle()
    [row] = _rows(custody)
    assert row.block_hash != old_block
    assert custody.request_by_key("g1").status == "executed"
    assert custody.token.functions.balanceOf(b).call() == 103
    for _ in range(5):
        _rpc(chain, "evm_mine")
    custody.outbox.process()
    assert _rows(custody)[0].status == "final"


def test_a_nonce_taken_by_another_transaction_fails_the_row_and_its_requests_are_retried(
    chain: Web3, compilation: Compilation, db_url: str
) -> None:
    custody, _ = build(chain, compilation, db_url, customers=2, balance=100)
    a, b = custody.customers
    custody.transfers.submit(idempotency_key="n1", token=custody.token.address, payer=a, payee=b, value=4)
    batch = custody.transfers.relay(custody.outbox)
    assert batch is not None
    # Someone else spends the relayer's nonce first (an operator's manual transaction, say).
    base = chain.eth.get_block("latest")["baseFeePerGas"]
    other = custody.outbox.signer.sign_transaction(
        {
            "type": 2,
            "chainId": chain.eth.chain_id,
            "nonce": batch.nonce,
            "to": b,
            "value": 0,
            "gas": 21_000,
            "maxFeePerGas": 2 * base + 10**9,
            "maxPriorityFeePerGas": 10**9,
        }
    )
    chain.eth.wait_for_transaction_receipt(chain.eth.send_raw_transaction(other.raw))
    custody.settle()
    rows = _rows(custody)
    failed = next(r for r in rows if r.id == batch.id)
    assert (failed.status, failed.error_name) == ("failed", "NonceUsedElsewhere")
    retried = [r for r in rows if r.id != batch.id]
    assert len(retried) == 1
    assert retried[0].nonce == batch.nonce + 1
    assert custody.request_by_key("n1").status == "executed"
    assert custody.token.functions.balanceOf(b).call() == 104


def test_a_node_that_fails_to_answer_is_not_taken_for_a_reorg(
    chain: Web3, compilation: Compilation, db_url: str
) -> None:
    custody, _ = build(chain, compilation, db_url, customers=2, balance=100)
    a, b = custody.customers
    custody.outbox.config = OutboxConfig(confirmations=50, stuck_after=60)
    custody.transfers.submit(idempotency_key="h1", token=custody.token.address, payer=a, payee=b, value=4)
    custody.settle()
    [before] = _rows(custody)
    assert before.status == "included"
    with RpcProxy(str(chain.provider.endpoint_uri)).running() as proxy:  # type: ignore[attr-defined]
        custody.outbox.w3 = http_web3(proxy.url)
        # More failures than web3 retries (5 attempts): the outbox sees the node as away.
        proxy.fail("eth_getBlockByNumber", times=5)
        custody.outbox.process()
        assert proxy.calls.get("eth_getBlockByNumber", 0) >= 1  # the fault was met
        [after] = _rows(custody)
        assert after.status == "included"
        assert after.block_hash == before.block_hash
        assert after.attempt_hashes == before.attempt_hashes
        assert custody.request_by_key("h1").status == "executed"
        custody.outbox.process()  # the node answers again: the row goes on as before
        [later] = _rows(custody)
        assert later.status == "included"
        assert later.block_hash == before.block_hash


def test_replacements_stop_at_the_fee_cap_with_a_critical_alert(
    chain: Web3, compilation: Compilation, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Fees climb 20% per replacement; without a cap a congested network was followed without end."""
    custody, _ = build(chain, compilation, db_url, customers=2, balance=100)
    a, b = custody.customers
    clock = custody.outbox.clock = ManualClock()
    custody.outbox.config = OutboxConfig(confirmations=1, stuck_after=30)
    custody.transfers.submit(idempotency_key="c1", token=custody.token.address, payer=a, payee=b, value=4)
    _rpc(chain, "evm_setAutomine", False)
    try:
        custody.transfers.relay(custody.outbox)
        custody.outbox.process()
        [row] = _rows(custody)
        # A cap one bump above what it first offered: one replacement fits, the next does not.
        cap = row.max_fee_per_gas * 13 // 10
        custody.outbox.config = OutboxConfig(confirmations=1, stuck_after=30, max_fee_per_gas=cap)
        fees = []
        for _ in range(4):
            clock.advance(31)
            custody.outbox.process()
            [row] = _rows(custody)
            fees.append(row.max_fee_per_gas)
        assert len(row.attempt_hashes) == 2  # one replacement, then it waits
        assert max(fees) <= cap
        assert fees[1:] == [fees[0]] * 3
        alerts = [r for r in caplog.records if r.levelname == "CRITICAL" and "fee cap reached" in r.message]
        assert len(alerts) == 1
        _rpc(chain, "evm_mine")
    finally:
        _rpc(chain, "evm_setAutomine", True)
    custody.settle()
    [row] = _rows(custody)
    assert row.status in ("included", "final")
    assert custody.token.functions.balanceOf(b).call() == 104
