"""The one loop every background worker runs (relayer, indexer, event pump, webhook delivery)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


def run_forever(
    step: Callable[[], int],
    stop: threading.Event,
    *,
    name: str,
    idle: float,
    busy: float = 0.0,
    max_backoff: float = 5.0,
) -> None:
    """Calls `step` until `stop` is set. `step` returns how much it did: after a step that did
    something the loop waits `busy` seconds (0: goes straight on), after one that did nothing `idle`.
    A step that raises is logged with `name` and retried after a backoff that doubles from 0.2 s up to
    `max_backoff` and resets after a good step, so a node or database that is away is waited for,
    not hammered, and no worker thread dies of it."""
    failures = 0
    while not stop.is_set():
        try:
            done = step()
        except Exception:
            failures += 1
            log.exception("%s failed; retrying", name)
            stop.wait(min(max_backoff, 0.1 * 2**failures))
            continue
        failures = 0
        stop.wait(busy if done else idle)
