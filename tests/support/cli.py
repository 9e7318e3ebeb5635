"""Running the `tdw` command line as a real process, the way an operator does."""

from __future__ import annotations

import os
import subprocess
import sys


def tdw(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`tdw ARGS` (as `python -m api.cli`) with this process's environment plus `env`; its output."""
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
