"""The funds check at the door is judged inside the transaction that stores the transfer: two submits
of one payer that both passed the early look cannot both be stored when together they overspend."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.wallet.bank.conftest import principal
from wallet.bank.runtime import Services
from wallet.bank.users import Principal
from wallet.errors import InsufficientFundsError
from wallet.keys.base import Signer
from wallet.vocabulary import AccountStatus, Role


def _funded(services: Services, amount: str) -> tuple[Principal, str]:
    owner = principal(services, Role.CUSTOMER)
    account = services.accounts.open(owner, "USD")
    deadline = time.monotonic() + 60
    while services.accounts.get(owner, account.id).status != AccountStatus.ACTIVE:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    operator = principal(services, Role.OPERATOR)
    services.operations.mint(
        operator, idempotency_key=uuid.uuid4().hex, currency="USD", amount=amount, to_account=account.id
    )
    while services.accounts.balance(owner, account.id).balance == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return owner, account.id


class _MeetingSigner:
    """Signs like the customer's key, after every racer has reached it: so each racer has passed the
    early funds check before any of them stores its transfer."""

    def __init__(self, inner: Signer, barrier: threading.Barrier) -> None:
        self._inner, self._barrier = inner, barrier
        self.address = inner.address

    def __getattr__(self, name: str) -> Any:
        self._barrier.wait(timeout=30)
        return getattr(self._inner, name)


def test_two_submits_that_both_passed_the_early_check_cannot_both_be_stored(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    payer, account = _funded(services, "100.00")
    payee = services.bank.role_address("burner")
    barrier = threading.Barrier(2)
    real: Callable[[str], Signer] = services.bank.transfers._payer_signer
    monkeypatch.setattr(
        services.bank.transfers, "_payer_signer", lambda address: _MeetingSigner(real(address), barrier)
    )

    def pay(_: int) -> str:
        try:
            services.payments.submit(
                payer,
                idempotency_key=uuid.uuid4().hex,
                from_account=account,
                amount="60.00",
                currency="USD",
                to_address=payee,
            )
        except InsufficientFundsError as refused:
            return f"refused, {refused.available_text} available"
        return "stored"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(pay, range(2)))
    assert outcomes == ["refused, 40.00 available", "stored"]
