"""A fixture factory for anvil nodes: one per session for tests that share a chain, and one per module
for tests that stop automining, revert snapshots or reorganise it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wallet.chain.node import AnvilNode


def anvil_fixture(scope: str, doc: str) -> Callable[..., Any]:
    """A pytest fixture (of `scope`) that starts an anvil from `node_modules` and stops it after."""

    def fixture(project_root: Path) -> Iterator[AnvilNode]:
        node = AnvilNode(project_root)
        node.start()
        yield node
        node.stop()

    fixture.__doc__ = doc
    return pytest.fixture(scope=scope)(fixture)  # type: ignore[call-overload, no-any-return]
