"""A wall clock a test moves by hand, for code that measures waiting (`Outbox(clock=...)`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class ManualClock:
    """Starts at the real time and moves only when `advance` is called."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Lets `seconds` pass."""
        self.now += timedelta(seconds=seconds)
