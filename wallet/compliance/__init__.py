"""Compliance: the audit log, maker-checker approvals, sanctions screening, KYC and the transfer policy.
Who may do what is decided here; the API and the CLI only call these services."""
