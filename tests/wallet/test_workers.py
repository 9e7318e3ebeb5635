"""The worker loop: it outlives failures, backs off, paces itself and stops when asked."""

from __future__ import annotations

import threading
import time

from wallet.workers import run_forever


def test_a_failing_step_is_retried_and_the_loop_goes_on() -> None:
    stop = threading.Event()
    calls: list[float] = []

    def step() -> int:
        calls.append(time.monotonic())
        if len(calls) <= 2:
            raise RuntimeError("node away")
        if len(calls) == 5:
            stop.set()
        return 1

    thread = threading.Thread(target=run_forever, args=(step, stop), kwargs={"name": "t", "idle": 10})
    thread.start()
    thread.join(5)
    assert not thread.is_alive()
    assert len(calls) == 5
    # Backoff after the failures: 0.2 s, then 0.4 s; busy steps follow each other at once.
    assert calls[1] - calls[0] >= 0.19
    assert calls[2] - calls[1] >= 0.39
    assert calls[4] - calls[3] < 0.2


def test_an_idle_step_waits_and_stop_ends_the_wait_at_once() -> None:
    stop = threading.Event()
    calls: list[int] = []

    def step() -> int:
        calls.append(1)
        return 0

    thread = threading.Thread(target=run_forever, args=(step, stop), kwargs={"name": "t", "idle": 30})
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1
    assert calls == [1]
