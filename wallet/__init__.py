"""tdw custody layer: keys, signing, chain access, transactions, ledger mirror and compliance.

Nothing in this package imports `api`; the HTTP layer and the CLI sit on top of it.
"""

__version__ = "0.1.0"
