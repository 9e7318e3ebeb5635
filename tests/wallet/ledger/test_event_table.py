"""The indexer's event layouts come from the compiled ABI; checked against signatures written out here."""

from __future__ import annotations

import copy

import pytest
from eth_utils.crypto import keccak

from wallet.chain.compiler import Compilation
from wallet.errors import LedgerError
from wallet.ledger.indexer import MIRRORED_EVENTS, EventLayout, event_table

# Written from the Solidity sources, independently of the code under test.
EXPECTED = {
    "TransferReferenced(address,address,uint256,bytes32)": EventLayout(
        "TransferReferenced", 2, ("uint256",), ("value",)
    ),
    "TransferForced(address,address,uint256,uint16,bytes32)": EventLayout(
        "TransferForced", 2, ("uint256", "uint16", "bytes32"), ("value", "reasonCode", "legalOrderHash")
    ),
    "AccountFrozen(address)": EventLayout("AccountFrozen", 1, (), ()),
    "AccountUnfrozen(address)": EventLayout("AccountUnfrozen", 1, (), ()),
    "FrozenAmountChanged(address,uint256,uint256)": EventLayout(
        "FrozenAmountChanged", 1, ("uint256", "uint256"), ("previous", "current")
    ),
    "AccountRecovered(address,address,uint256,bytes32)": EventLayout(
        "AccountRecovered", 2, ("uint256", "bytes32"), ("value", "legalOrderHash")
    ),
    "KycUpdated(address,bool,uint40,uint16)": EventLayout(
        "KycUpdated", 1, ("bool", "uint40", "uint16"), ("verified", "expiry", "jurisdiction")
    ),
    "BlockedUpdated(address,bool)": EventLayout("BlockedUpdated", 1, ("bool",), ("blocked",)),
    "TokenAttached(address)": EventLayout("TokenAttached", 1, (), ()),
    "TokenDetached(address)": EventLayout("TokenDetached", 1, (), ()),
    "TokenPushFailed(address,address,bytes)": EventLayout("TokenPushFailed", 2, ("bytes",), ("reason",)),
    "RegistryLinkChanged(address,bool,uint256)": EventLayout(
        "RegistryLinkChanged", 1, ("bool", "uint256"), ("linked", "epoch")
    ),
    "Paused(address)": EventLayout("Paused", 0, ("address",), ("account",)),
    "Unpaused(address)": EventLayout("Unpaused", 0, ("address",), ("account",)),
}


def test_the_table_from_the_compiled_abi_decodes_every_mirrored_event(compilation: Compilation) -> None:
    table = event_table(c.abi for c in compilation.contracts.values())
    assert {keccak(text=signature): layout for signature, layout in EXPECTED.items()} == table
    assert {layout.name for layout in table.values()} == set(MIRRORED_EVENTS)


def test_an_abi_without_a_mirrored_event_is_refused_at_start_up(compilation: Compilation) -> None:
    abis = [copy.deepcopy(c.abi) for c in compilation.contracts.values()]
    for abi in abis:
        abi[:] = [item for item in abi if item.get("name") != "KycUpdated"]
    with pytest.raises(LedgerError, match="KycUpdated"):
        event_table(abis)
