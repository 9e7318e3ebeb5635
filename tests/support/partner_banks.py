"""Two banks on one chain for the tests of payments between banks: a central bank, the demo bank and
Harbour Bank, each the other's partner, talking through each other's API in process."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.api_bank import ApiBank, User, build_api_bank
from wallet.bank.users import Principal
from wallet.chain.compiler import Compilation
from wallet.chain.network import deploy_central_bank
from wallet.chain.node import AnvilNode, connect, fund_from_dev_account
from wallet.keys import PrivateKeySigner
from wallet.vocabulary import Role


def two_banks(
    anvil: AnvilNode,
    compilation: Compilation,
    tmp_path_factory: pytest.TempPathFactory,
    *,
    automatic_recovery: bool = False,
) -> Iterator[tuple[ApiBank, ApiBank]]:
    """The demo bank (USD, EUR) and the partner bank (HKD, USD), admitted by one central bank with
    reserves, each registered as the other's partner, each FX book funded, on `anvil`; with
    `automatic_recovery`, each brings its database back to a chain that lost blocks on its own."""
    w3 = connect(anvil.url)
    central_key = PrivateKeySigner.generate()
    fund_from_dev_account(w3, central_key.address, 10**21)
    central = deploy_central_bank(w3, compilation, central_key)
    clients: dict[str, httpx.Client] = {}
    reserves = {"USD": 10**9, "HKD": 10**10, "EUR": 10**9}
    with contextlib.ExitStack() as stack:
        demo_gen = build_api_bank(
            f"sqlite:///{tmp_path_factory.mktemp('demo') / 'tdw.db'}",
            anvil,
            compilation,
            tmp_path_factory.mktemp("demo-data"),
            bank_name="Demo Bank",
            currencies=("USD", "EUR"),
            bic="DEMOCHZZ",
            central=(central, central_key),
            reserves=reserves,
            automatic_recovery=automatic_recovery,
            partner_transport=lambda p: clients[p.id],
        )
        demo = next(demo_gen)
        stack.callback(lambda: next(demo_gen, None))
        settlement = {
            "AtomicSettlement": demo.services.bank.manifest.settlement,
            "HashedTimelock": demo.services.bank.manifest.timelock,
        }
        harbour_gen = build_api_bank(
            f"sqlite:///{tmp_path_factory.mktemp('harbour') / 'tdw.db'}",
            anvil,
            compilation,
            tmp_path_factory.mktemp("harbour-data"),
            bank_name="Harbour Bank",
            currencies=("HKD", "USD"),
            bic="HARBHKHH",
            settlement=settlement,  # type: ignore[arg-type]
            central=(central, central_key),
            reserves=reserves,
            automatic_recovery=automatic_recovery,
            partner_transport=lambda p: clients[p.id],
        )
        harbour = next(harbour_gen)
        stack.callback(lambda: next(harbour_gen, None))
        clients["harbour"], clients["demo"] = harbour.client, demo.client
        for ours, theirs, their_id in ((demo, harbour, "harbour"), (harbour, demo, "demo")):
            identity = theirs.services.crossborder.identity()
            ours.services.partners.ensure(
                id=their_id,
                name=identity["name"],
                bic=identity["bic"],
                key_id=identity["key_id"],
                public_key=identity["public_key"],
                base_url="http://testserver",
                treasury=identity["treasury"],
                max_payment={"USD": 5_000_000, "HKD": 50_000_000},
                max_open={"USD": 10_000_000, "HKD": 100_000_000},
            )
        for bank in (demo, harbour):
            operator = bank.signup("operator")
            staff = Principal(operator.user_id, operator.username, Role.OPERATOR)
            treasury = bank.services.bank.role_address("treasury")
            for code in bank.services.bank.tokens:
                view, _ = bank.services.operations.mint(
                    staff,
                    idempotency_key=f"book-{code}",
                    currency=code,
                    amount="100000.00",
                    to_address=treasury,
                )
                bank.settle_operation(operator, view.id)
        yield demo, harbour


def customer(bank: ApiBank, currency: str, amount: str, name: str) -> tuple[User, dict[str, Any]]:
    """A verified customer of `bank` named `name`, with an account in `currency` holding `amount`."""
    user = bank.signup(full_name=name)
    account = bank.open_account(user, currency)
    operator = bank.signup("operator")
    bank.mint(operator, account, amount)
    bank.wait_balance(user, account, amount)
    return user, account


def pay(
    bank: ApiBank, user: User, partner: str, sell: str, buy: str, amount: str, to: dict[str, Any], name: str
) -> Any:
    """`user` pays `to` (an account at the partner bank, by its address) through the API: a quote
    selling `amount` of `sell` for `buy`, then the payment; (the quote, the payment's answer)."""
    quote = bank.client.post(
        "/v1/cross-border/quotes",
        json={"partner": partner, "sell": sell, "buy": buy, "sell_amount": amount},
        headers=user.headers,
    )
    assert quote.status_code == 201, quote.text
    r = bank.client.post(
        "/v1/cross-border/payments",
        json={"quote_id": quote.json()["id"], "creditor": {"address": to["address"], "name": name}},
        headers={**user.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    return quote.json(), r
