"""The `tdw` command line. It is the process entry point, so it sits in `api/`, the outermost layer: it
composes `wallet` services and serves HTTP. Each command is a thin shell over a `wallet` function; the
modules here group them by area, and importing this package registers them all on `app`.

- `app`: the Typer application, its `WalletError` -> exit code 2 handling, shared helpers
- `serve`: `tdw dev` and `tdw serve`; `demo`: the development bank `tdw dev` deploys and seeds
- `chain`: compile, deploy, verify, keys; `ledger`: index, reconcile, statement
- `users`: add-user, totp; `bench`: `tdw bench ...`; `audit`: audit verify, audit export;
  `sanctions`: sanctions load, sanctions screen; `inspect`: address, holders, trace, timeline
"""

from api.cli import audit, bench, chain, inspect, ledger, sanctions, serve, users
from api.cli.app import app

__all__ = ["app", "audit", "bench", "chain", "inspect", "ledger", "sanctions", "serve", "users"]
