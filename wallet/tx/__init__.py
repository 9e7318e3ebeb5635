"""Chain transactions that must never be lost, doubled or re-created: the outbox and the relayer."""
