"""Who may do what is decided in wallet.bank: the services refuse the wrong caller themselves, so no
front end (the API, the command line, the browser screens) can forget to."""

from __future__ import annotations

import time

import pytest

from tests.wallet.bank.conftest import principal
from wallet.bank.runtime import Services
from wallet.bank.users import Principal
from wallet.errors import IdempotencyConflictError, NotFoundError, PermissionDeniedError
from wallet.vocabulary import AccountStatus, OperationKind, Role


def _active_account(services: Services, owner_role: Role = Role.CUSTOMER) -> tuple[Principal, str]:
    owner = principal(services, owner_role)
    account = services.accounts.open(owner, "USD")
    deadline = time.monotonic() + 60
    while services.accounts.get(owner, account.id).status != AccountStatus.ACTIVE:
        assert time.monotonic() < deadline, "the account's KYC registration did not reach the chain"
        time.sleep(0.05)
    return owner, account.id


def test_a_customer_cannot_pay_from_another_customers_account(services: Services) -> None:
    _, alices = _active_account(services)
    mallory = principal(services, Role.CUSTOMER)
    with pytest.raises(NotFoundError):
        services.payments.submit(
            mallory,
            idempotency_key="k",
            from_account=alices,
            amount="1.00",
            currency="USD",
            to_account=alices,
        )


def test_a_customer_cannot_read_another_customers_account(services: Services) -> None:
    _, alices = _active_account(services)
    with pytest.raises(NotFoundError):
        services.accounts.get(principal(services, Role.CUSTOMER), alices)


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.COMPLIANCE, Role.ADMIN])
def test_only_an_operator_mints(services: Services, role: Role) -> None:
    _, account = _active_account(services)
    with pytest.raises(PermissionDeniedError):
        services.operations.mint(
            principal(services, role), idempotency_key="m", currency="USD", amount="5.00", to_account=account
        )


def test_a_mint_repeated_with_its_key_is_the_same_operation_and_another_body_is_refused(
    services: Services,
) -> None:
    operator = principal(services, Role.OPERATOR)
    _, account = _active_account(services)
    first, created = services.operations.mint(
        operator, idempotency_key="deposit-1", currency="USD", amount="5.00", to_account=account
    )
    again, created_again = services.operations.mint(
        operator, idempotency_key="deposit-1", currency="USD", amount="5.00", to_account=account
    )
    assert created
    assert not created_again
    assert again.id == first.id
    assert first.kind == OperationKind.MINT
    with pytest.raises(IdempotencyConflictError, match="deposit-1"):
        services.operations.mint(
            operator, idempotency_key="deposit-1", currency="USD", amount="5.01", to_account=account
        )
    # The key is the operator's own: another operator's same key is another operation.
    other, other_created = services.operations.mint(
        principal(services, Role.OPERATOR),
        idempotency_key="deposit-1",
        currency="USD",
        amount="5.01",
        to_account=account,
    )
    assert other_created
    assert other.id != first.id
