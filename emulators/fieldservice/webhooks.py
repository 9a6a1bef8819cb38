"""Webhook delivery: signed POSTs from one background thread, retried with backoff, every attempt logged.

Each attempt is signed at send time with the tenant's current secret and a fresh timestamp (as real senders do), so
a delivery that waited in the retry queue is not stale on arrival; the event id stays the same across attempts."""

from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from shared.fieldservice.webhooks import SIGNATURE_HEADER, signature_header


@dataclass
class Delivery:
    id: str
    event_id: str
    event_type: str
    tenant_id: str
    url: str
    body: bytes
    status: str = "pending"  # pending | delivered | failed
    attempts: list[dict] = field(default_factory=list)
    last_header: str | None = None

    def summary(self) -> dict:
        return {"id": self.id, "event_id": self.event_id, "type": self.event_type, "tenant_id": self.tenant_id,
                "url": self.url, "status": self.status, "attempts": self.attempts,
                "event": json.loads(self.body)}


class WebhookSender:
    def __init__(self, secret_of: Callable[[str], str], max_attempts: int = 6, backoff: float = 0.5,
                 backoff_cap: float = 30.0, timeout: float = 5.0, log_size: int = 10_000):
        self._secret_of, self._max_attempts = secret_of, max_attempts
        self._backoff, self._backoff_cap, self._timeout = backoff, backoff_cap, timeout
        self._heap: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._in_flight = 0
        self.log: deque[Delivery] = deque(maxlen=log_size)
        self._by_id: dict[str, Delivery] = {}
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._run, name="fsp-webhooks", daemon=True)
        self._thread.start()

    def enqueue(self, delivery: Delivery) -> None:
        with self._cond:
            if len(self.log) == self.log.maxlen:
                self._by_id.pop(self.log[0].id, None)
            self.log.append(delivery)
            self._by_id[delivery.id] = delivery
            heapq.heappush(self._heap, (time.monotonic(), next(self._seq), delivery))
            self._cond.notify_all()

    def get(self, delivery_id: str) -> Delivery | None:
        with self._cond:
            return self._by_id.get(delivery_id)

    def send_raw(self, url: str, body: bytes, header: str | None) -> dict:
        """One POST with exactly these bytes and this header (no retry): replays and forgeries in tests."""
        headers = {"Content-Type": "application/json"}
        if header is not None:
            headers[SIGNATURE_HEADER] = header
        try:
            response = self._session.post(url, data=body, headers=headers, timeout=self._timeout)
            return {"status": response.status_code, "body": response.text[:2000]}
        except requests.RequestException as exc:
            return {"status": None, "error": f"{type(exc).__name__}: {exc}"}

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued or in flight (failed deliveries count as done). True if drained."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + self._in_flight

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        self._session.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._stopped:
                    return
                _, _, delivery = heapq.heappop(self._heap)
                self._in_flight += 1
            try:
                self._attempt(delivery)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _attempt(self, delivery: Delivery) -> None:
        header = signature_header(self._secret_of(delivery.tenant_id), delivery.body)
        delivery.last_header = header
        attempt: dict = {"at": time.time()}
        result = self.send_raw(delivery.url, delivery.body, header)
        attempt.update(result)
        delivery.attempts.append(attempt)
        if result.get("status") is not None and 200 <= result["status"] < 300:
            delivery.status = "delivered"
            return
        if len(delivery.attempts) >= self._max_attempts:
            delivery.status = "failed"
            return
        delay = min(self._backoff_cap, self._backoff * 2 ** (len(delivery.attempts) - 1))
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), delivery))

