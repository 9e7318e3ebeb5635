import inspect

from api.problems import problem_type, status_of
from wallet import errors
from wallet.bank.webhooks import verify
from wallet.tx.transfers import TransferError

WALLET_ERRORS = [
    c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.WalletError)
]


def test_every_wallet_error_has_its_own_stable_problem_type() -> None:
    types = {problem_type(c) for c in [*WALLET_ERRORS, TransferError]}
    assert len(types) == len(WALLET_ERRORS) + 1
    assert problem_type(errors.IdempotencyConflictError) == "urn:tdw:problem:idempotency-conflict"
    assert problem_type(errors.ContractRevertError) == "urn:tdw:problem:contract-revert"


def test_only_the_root_error_is_a_500() -> None:
    assert {c for c in WALLET_ERRORS if status_of(c) >= 500 and status_of(c) != 503} == {errors.WalletError}
    assert status_of(TransferError) == 422
    assert status_of(errors.AccountLockedError) == 423
    assert status_of(errors.NotFoundError) == 404


def test_a_webhook_signature_does_not_verify_when_stale_or_tampered() -> None:
    from wallet.bank.webhooks import sign

    header = sign("whsec_x", 1_000_000, b'{"id":1}')
    assert verify("whsec_x", header, b'{"id":1}', now=1_000_100)
    assert not verify("whsec_x", header, b'{"id":2}', now=1_000_100)
    assert not verify("whsec_x", header, b'{"id":1}', now=1_000_400)
    assert not verify("whsec_x", "garbage", b'{"id":1}', now=1_000_100)
