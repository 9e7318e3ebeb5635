"""A custody process for the crash and concurrency tests: submits transfers `start .. start+count` (each
with its own idempotency key) and relays them until every request is settled. Killing it at any moment
and starting it again must neither lose nor double a transfer.

    python -m tests.support.transfer_driver CONFIG.json START COUNT PREFIX
"""

import json
import sys
from pathlib import Path

from web3 import Web3

from tests.support.custody_bank import attach


def plan(i: int, customers: list[str]) -> tuple[str, str, int]:
    """Transfer i: payer, payee and amount, the same in every process and in the test's expectations."""
    n = len(customers)
    payer = customers[i % n]
    payee = customers[(i + 1 + i // n) % n]
    if payee == payer:
        payee = customers[(i + 1) % n]
    return payer, payee, 1 + i % 13


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text())
    start, count, prefix = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    w3 = Web3(Web3.HTTPProvider(config["rpc_url"]))
    custody = attach(w3, config)
    for i in range(start, start + count):
        payer, payee, value = plan(i, config["customers"])
        custody.transfers.submit(
            idempotency_key=f"{prefix}{i}", token=config["token"], payer=payer, payee=payee, value=value
        )
        if i % 10 == 9:
            custody.transfers.relay(custody.outbox)
            custody.outbox.process()
    custody.settle(timeout=600)
    print("settled", flush=True)


if __name__ == "__main__":
    main()
