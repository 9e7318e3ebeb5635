"""The ledger mirror: indexer, double-entry journal, reconciliation and statements."""
