"""Customer transfers by authorization through the relayer and the outbox, on anvil, on SQLite and
PostgreSQL."""

import pytest
from sqlalchemy import func, select
from web3 import Web3

from tests.support.custody_bank import Custody, build
from wallet.chain.compiler import Compilation
from wallet.chain.eip3009 import authorization_digest
from wallet.chain.node import fund_from_dev_account
from wallet.chain.transact import Transactor
from wallet.db.models import ChainTx, TransferRequest
from wallet.errors import IdempotencyConflictError, TransferError
from wallet.keys import PrivateKeySigner
from wallet.tx.transfers import _as_struct


def _balances(custody: Custody) -> list[int]:
    return [custody.token.functions.balanceOf(a).call() for a in custody.customers]


def test_transfers_are_batched_relayed_and_executed(
    chain: Web3, compilation: Compilation, db_url: str
) -> None:
    custody, _ = build(chain, compilation, db_url, customers=4, balance=1_000_00, batch_size=5)
    c = custody.customers
    for i in range(12):
        custody.transfers.submit(
            idempotency_key=f"k{i}",
            token=custody.token.address,
            payer=c[i % 4],
            payee=c[(i + 1) % 4],
            value=100 + i,
        )
    custody.settle()
    with custody.sessions() as s:
        assert s.scalar(select(func.count()).where(TransferRequest.status == "executed")) == 12
        batches = list(s.scalars(select(ChainTx)))
    assert len(batches) == 3  # 5 + 5 + 2
    assert all(b.status in ("included", "confirmed", "final") for b in batches)
    expected = [1_000_00] * 4
    for i in range(12):
        expected[i % 4] -= 100 + i
        expected[(i + 1) % 4] += 100 + i
    assert _balances(custody) == expected


def test_the_same_request_twice_moves_money_once(chain: Web3, compilation: Compilation, db_url: str) -> None:
    custody, _ = build(chain, compilation, db_url, customers=2, balance=500)
    a, b = custody.customers
    first = custody.transfers.submit(
        idempotency_key="pay-1", token=custody.token.address, payer=a, payee=b, value=7
    )
    again = custody.transfers.submit(
        idempotency_key="pay-1", token=custody.token.address, payer=a, payee=b, value=7
    )
    assert again.id == first.id
    custody.settle()
    after = custody.transfers.submit(
        idempotency_key="pay-1", token=custody.token.address, payer=a, payee=b, value=7
    )
    assert after.id == first.id
    assert after.status == "executed"
    custody.settle()
    assert _balances(custody) == [493, 507]
    with pytest.raises(IdempotencyConflictError):
        custody.transfers.submit(
            idempotency_key="pay-1", token=custody.token.address, payer=a, payee=b, value=8
        )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("value", 0, "positive integer"),
        ("value", -5, "positive integer"),
        ("value", 1.5, "positive integer"),
        ("payee", "0x123", "not an Ethereum address"),
        ("token", "0x" + "00" * 20, "not a deposit token"),
    ],
)
def test_malformed_requests_are_refused_and_stored_nowhere(
    chain: Web3, compilation: Compilation, db_url: str, field: str, value: object, message: str
) -> None:
    custody, _ = build(chain, compilation, db_url, customers=2, balance=10)
    a, b = custody.customers
    args = {"idempotency_key": "x", "token": custody.token.address, "payer": a, "payee": b, "value": 1}
    args[field] = value
    with pytest.raises(TransferError, match=message):
        custody.transfers.submit(**args)
    with custody.sessions() as s:
        assert s.scalar(select(func.count()).select_from(TransferRequest)) == 0


def test_reverting_authorizations_fail_with_their_decoded_error_and_move_no_money(
    chain: Web3, compilation: Compilation, db_url: str
) -> None:
    custody, _ = build(chain, compilation, db_url, customers=4, balance=1_000)
    a, b, frozen, poor = custody.customers
    stranger = Web3.to_checksum_address("0x" + "ab" * 20)
    admin = custody.admin
    assert admin is not None
    admin.send(custody.token.functions.freeze(frozen))
    admin.send(custody.token.functions.setFrozenAmount(poor, 900))
    submit = custody.transfers.submit
    ok = submit(idempotency_key="ok", token=custody.token.address, payer=a, payee=b, value=10)
    from_frozen = submit(idempotency_key="fz", token=custody.token.address, payer=frozen, payee=b, value=10)
    to_stranger = submit(idempotency_key="st", token=custody.token.address, payer=a, payee=stranger, value=10)
    too_much = submit(idempotency_key="tm", token=custody.token.address, payer=a, payee=b, value=5_000)
    over_frozen = submit(idempotency_key="of", token=custody.token.address, payer=poor, payee=b, value=101)
    custody.settle()
    got = {r: custody.request(r.id) for r in (ok, from_frozen, to_stranger, too_much, over_frozen)}
    assert got[ok].status == "executed"
    assert (got[from_frozen].status, got[from_frozen].error_name) == ("failed", "DepositTokenAccountFrozen")
    assert got[from_frozen].error_args == {"account": frozen}
    assert (got[to_stranger].status, got[to_stranger].error_name) == (
        "failed",
        "DepositTokenAccountNotVerified",
    )
    assert (got[too_much].status, got[too_much].error_name) == ("failed", "ERC20InsufficientBalance")
    assert got[too_much].error_args == {"sender": a, "balance": "990", "needed": "5000"}
    assert got[over_frozen].error_name == "DepositTokenInsufficientUnfrozenBalance"
    assert _balances(custody) == [990, 1_010, 1_000, 1_000]
    assert custody.token.functions.balanceOf(stranger).call() == 0


def test_batch_calldata_matches_web3s_abi_encoding(compilation: Compilation) -> None:
    from wallet.tx.transfers import batch_calldata

    token = Web3().eth.contract(
        address=Web3.to_checksum_address("0x" + "11" * 20), abi=compilation["DepositToken"].abi
    )
    structs = [
        (
            "0x" + "22" * 20,
            "0x" + "33" * 20,
            10**20 + i,
            0,
            2**40,
            bytes([i]) * 32,
            b"\x00" * 32,
            27 + i % 2,
            b"\x44" * 32,
            b"\x55" * 32,
        )
        for i in range(3)
    ]
    structs = [(Web3.to_checksum_address(s[0]), Web3.to_checksum_address(s[1]), *s[2:]) for s in structs]
    expected = token.encode_abi("batchTransferWithAuthorization", args=[structs])
    assert "0x" + batch_calldata(structs).hex() == expected


def test_an_authorization_a_front_runner_executed_first_is_executed_not_failed(
    chain: Web3, compilation: Compilation, db_url: str
) -> None:
    """Anyone can copy an authorization out of the relayer's pending batch and submit it first. The money
    moves as the customer signed; our batch then reports AuthorizationAlreadyUsed, which must not make
    the customer's transfer `failed`: it was executed, by the front-runner's transaction."""
    custody, _ = build(chain, compilation, db_url, customers=2, balance=1_000)
    payer, payee = custody.customers
    copied = custody.transfers.submit(
        idempotency_key="copied", token=custody.token.address, payer=payer, payee=payee, value=40
    )
    honest = custody.transfers.submit(
        idempotency_key="honest", token=custody.token.address, payer=payer, payee=payee, value=2
    )
    front_runner = PrivateKeySigner.generate()
    fund_from_dev_account(chain, front_runner.address, 10**18)
    receipt = Transactor(chain, front_runner).send(
        custody.token.functions.transferWithReferenceAuthorization(_as_struct(custody.request(copied.id)))
    )
    custody.settle()
    got = custody.request(copied.id)
    assert (got.status, got.error_name) == ("executed", None)
    assert got.executed_tx_hash == "0x" + bytes(receipt["transactionHash"]).hex()
    assert got.executed_block == receipt["blockNumber"]
    assert custody.request(honest.id).status == "executed"
    assert _balances(custody) == [1_000 - 42, 1_000 + 42]  # moved once


def test_a_canceled_authorization_stays_failed(chain: Web3, compilation: Compilation, db_url: str) -> None:
    custody, _ = build(chain, compilation, db_url, customers=2, balance=1_000)
    payer, payee = custody.customers
    request = custody.transfers.submit(
        idempotency_key="canceled", token=custody.token.address, payer=payer, payee=payee, value=40
    )
    signer = custody.keystore.signer_for_address(payer)
    domain = custody.transfers.tokens[custody.token.address].domain
    message = {"authorizer": payer, "nonce": bytes(request.auth_nonce)}
    signature = signer.sign_hash(authorization_digest(domain, "CancelAuthorization", message))
    fund_from_dev_account(chain, signer.address, 10**18)
    Transactor(chain, signer).send(
        custody.token.functions.cancelAuthorization(
            payer, bytes(request.auth_nonce), signature.v, signature.r, signature.s
        )
    )
    custody.settle()
    got = custody.request(request.id)
    assert (got.status, got.error_name) == ("failed", "DepositTokenAuthorizationAlreadyUsed")
    assert got.executed_tx_hash is None
    assert _balances(custody) == [1_000, 1_000]
