"""Request limits per client address and per user, on top of the login throttle in `users`.

Counting is the `limits` library's moving window. Its storage is in the process by default (`memory://`,
right for the embedded mode and one API process); several API processes share one with a storage URI
that `limits` understands (`redis://...`, `memcached://...`), so a client cannot multiply its allowance
by the number of processes.

Scopes, each with its own limit (the `limits` notation, "120/minute", "10/hour;100/day"):
- `client`: every request from one client address;
- `user`: every request of one authenticated user, wherever it comes from;
- `signup`: sign-ups from one client address (a chosen username that is taken has to say so, so
  sign-up is where names could be enumerated: this limit is what bounds it).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from wallet.errors import ConfigurationError, RateLimitedError

WHAT = {"client": "requests from this address", "user": "requests of this user", "signup": "sign-ups"}


@dataclass(frozen=True)
class RateLimitConfig:
    """The limit of each scope, and where the counts live."""

    enabled: bool = True
    limits: dict[str, str] = field(
        default_factory=lambda: {"client": "1200/minute", "user": "120/minute", "signup": "10/hour"}
    )
    storage: str = "memory://"


class RateLimits:
    """Counts requests per scope and identity; `hit` raises `RateLimitedError` over the limit."""

    def __init__(self, config: RateLimitConfig | None = None) -> None:
        self.config = config or RateLimitConfig()
        try:
            self._items: dict[str, list[RateLimitItem]] = {
                scope: parse_many(text) for scope, text in self.config.limits.items()
            }
            self._limiter = MovingWindowRateLimiter(storage_from_string(self.config.storage))
        except ValueError as exc:
            raise ConfigurationError(f"rate limits: {exc}") from None

    def hit(self, scope: str, identity: str) -> None:
        """Counts one request of `identity` in `scope`; raises `RateLimitedError` with the seconds until
        the window lets one through when it is over any of the scope's limits."""
        if not self.config.enabled:
            return
        for item in self._items.get(scope, ()):
            if not self._limiter.hit(item, scope, identity):
                reset = self._limiter.get_window_stats(item, scope, identity).reset_time
                raise RateLimitedError(WHAT.get(scope, scope), max(1, math.ceil(reset - time.time())))

    def reset(self) -> None:
        """Forgets every count (tests, and an operator clearing a false alarm)."""
        self._limiter.storage.reset()
