"""Decodes revert data into the contract's custom error: its name and named arguments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import collapse_if_tuple, function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address

_BUILTIN_ERRORS: list[dict[str, Any]] = [
    {"type": "error", "name": "Error", "inputs": [{"name": "message", "type": "string"}]},
    {"type": "error", "name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]},
]


class ErrorDecoder:
    """Maps revert data to `(name, {argument: value})` using the errors declared in some ABIs."""

    def __init__(self, abis: Iterable[Iterable[Mapping[str, Any]]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for abi in [_BUILTIN_ERRORS, *abis]:
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = [collapse_if_tuple(dict(i)) for i in item["inputs"]]
                names = [i["name"] or f"arg{n}" for n, i in enumerate(item["inputs"])]
                selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
                self._errors[selector] = (item["name"], names, types)

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """The error's name and arguments; unknown data decodes as `UnknownError` with the raw hex."""
        if len(data) < 4:
            return ("EmptyRevert", {}) if not data else ("UnknownError", {"data": "0x" + data.hex()})
        entry = self._errors.get(data[:4])
        if entry is None:
            return "UnknownError", {"data": "0x" + data.hex()}
        name, names, types = entry
        try:
            values = decode(types, data[4:])
        except DecodingError:
            return "UnknownError", {"data": "0x" + data.hex()}
        return name, {n: _plain(t, v) for n, t, v in zip(names, types, values, strict=True)}


def _plain(abi_type: str, value: Any) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


def jsonable_args(args: dict[str, Any]) -> dict[str, Any]:
    """Decoded error arguments as JSON for the database: integers as decimal strings (uint256 does not
    fit a JSON number), strings and booleans as they are, anything else as its repr."""
    return {
        k: v if isinstance(v, str | bool | None) else str(v) if isinstance(v, int) else repr(v)
        for k, v in args.items()
    }
