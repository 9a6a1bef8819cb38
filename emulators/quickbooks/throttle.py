"""QuickBooks' per-realm throttles: 500 requests per minute, 10 concurrent requests, 40 batch requests per minute
(batch requests count toward the 500 too), over a sliding 60 s window on the emulator's clock
(qbo-facts.md "Limits and throttling"). Intuit also limits 10 requests per second per realm and app; that limit is
off unless set, because it would throttle ordinary test traffic."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

WINDOW = 60.0


@dataclass
class Limits:
    enabled: bool = True
    requests_per_minute: int = 500
    concurrent: int = 10
    batch_per_minute: int = 40
    requests_per_second: int | None = None


class Throttle:
    def __init__(self, clock: Callable[[], float], limits: Limits):
        self._clock, self.limits = clock, limits
        self._lock = threading.Lock()
        self._requests: dict[str, deque[float]] = {}
        self._batches: dict[str, deque[float]] = {}
        self._in_flight: dict[str, int] = {}

    def configure(self, **changes) -> dict:
        with self._lock:
            for key, value in changes.items():
                if not hasattr(self.limits, key):
                    raise ValueError(f"unknown limit {key}")
                setattr(self.limits, key, value)
            return asdict(self.limits)

    def describe(self) -> dict:
        with self._lock:
            return asdict(self.limits)

    def enter(self, realm: str, batch: bool) -> bool:
        """Admit one request (True) or refuse it (False). An admitted request must call `leave`."""
        with self._lock:
            if not self.limits.enabled:
                self._in_flight[realm] = self._in_flight.get(realm, 0) + 1
                return True
            now = self._clock()
            requests = _trim(self._requests.setdefault(realm, deque()), now)
            batches = _trim(self._batches.setdefault(realm, deque()), now)
            if self._in_flight.get(realm, 0) >= self.limits.concurrent:
                return False
            if len(requests) >= self.limits.requests_per_minute:
                return False
            if batch and len(batches) >= self.limits.batch_per_minute:
                return False
            per_second = self.limits.requests_per_second
            if per_second is not None and sum(1 for t in requests if t > now - 1.0) >= per_second:
                return False
            requests.append(now)
            if batch:
                batches.append(now)
            self._in_flight[realm] = self._in_flight.get(realm, 0) + 1
            return True

    def leave(self, realm: str) -> None:
        with self._lock:
            self._in_flight[realm] = max(0, self._in_flight.get(realm, 0) - 1)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._batches.clear()


def _trim(window: deque[float], now: float) -> deque[float]:
    while window and window[0] <= now - WINDOW:
        window.popleft()
    return window
