"""Requests per key per minute: a token bucket per owner, in this process's memory.

A key may spend a sixth of its minute at once (a page load, a burst of polling); after that,
requests come back at the steady rate. Each process keeps its own buckets: behind N API
processes a key gets N times the rate, which still bounds it.
"""

from __future__ import annotations

import threading
import time


class RateLimiter:
    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0  # tokens per second
        self.capacity = max(5.0, per_minute / 6.0)
        self._buckets: dict[str, tuple[float, float]] = {}  # owner -> (tokens, updated)
        self._lock = threading.Lock()

    def wait_needed(self, owner: str) -> float:
        """0 when ``owner`` may make a request now (and counts it), else the seconds until
        it may."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, updated = self._buckets.get(owner, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - updated) * self.rate)
            if tokens >= 1.0:
                self._buckets[owner] = (tokens - 1.0, now)
                return 0.0
            self._buckets[owner] = (tokens, now)
            return (1.0 - tokens) / self.rate
