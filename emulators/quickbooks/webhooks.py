"""Webhook notifications as QuickBooks sends them: change events batched per realm, POSTed from one background
thread, signed with `intuit-signature` = base64(HMAC-SHA256(verifier token, raw body)), retried on failure.

Facts (qbo-facts.md "Webhooks"): classic payload `{"eventNotifications":[{"realmId","dataChangeEvent":{"entities":
[...]}}]}` (webhook-classic.json); production batches events over minutes (here `flush_interval`, 1 s by default);
retries at 10 s, 20 s, 30 s, 5 min, 20 min, 2 h, 4 h, 6 h (here scaled by `retry_scale`, 0.01 by default); later
events for a realm wait until the delivery before them is acknowledged. CloudEvents (an array of
`{specversion, id, source, type: qbo.<entity>.<operation>.v1, ...}`, webhook-cloudevents.json) is the other format."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

import requests

from emulators.quickbooks.wire import webhook_time

RETRY_SCHEDULE = (10, 20, 30, 300, 1200, 7200, 14400, 21600)
SIGNATURE_HEADER = "intuit-signature"
PAST = {"Create": "created", "Update": "updated", "Delete": "deleted", "Void": "voided", "Merge": "merged",
        "Emailed": "emailed"}
MAX_QUEUED = 10_000


def sign(verifier_token: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Delivery:
    id: str
    realm: str
    url: str
    body: bytes
    content_type: str
    status: str = "pending"  # pending | delivered | failed
    attempts: list[dict] = field(default_factory=list)
    due: float = 0.0  # monotonic time of the next attempt

    def summary(self) -> dict:
        return {"id": self.id, "realm": self.realm, "url": self.url, "status": self.status,
                "attempts": self.attempts, "payload": json.loads(self.body)}


class WebhookDispatcher:
    def __init__(self, verifier_token: str, url: str | None = None, *, flush_interval: float = 1.0,
                 retry_scale: float = 0.01, max_attempts: int = len(RETRY_SCHEDULE) + 1, fmt: str = "classic",
                 timeout: float = 3.0, log_size: int = 1000):
        self.verifier_token, self.url, self.fmt = verifier_token, url, fmt
        self.flush_interval, self.retry_scale, self.max_attempts = flush_interval, retry_scale, max_attempts
        self.timeout = timeout  # Intuit expects an answer within 3 s
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._queued: dict[str, deque[dict]] = {}  # realm -> events waiting for the next delivery
        self._first_queued: dict[str, float] = {}
        self._held: dict[str, Delivery] = {}  # realm -> the delivery being retried (later events wait behind it)
        self._ids = itertools.count(1)
        self.log: deque[Delivery] = deque(maxlen=log_size)
        self._stopped = False
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._run, name="qbo-webhooks", daemon=True)
        self._thread.start()

    def configure(self, **settings) -> dict:
        with self._cond:
            for key, value in settings.items():
                if key not in ("url", "fmt", "flush_interval", "retry_scale", "max_attempts", "verifier_token"):
                    raise ValueError(f"unknown webhook setting {key}")
                if key == "fmt" and value not in ("classic", "cloudevents"):
                    raise ValueError("format must be classic or cloudevents")
                setattr(self, key, value)
            self._cond.notify_all()
            return self.describe()

    def describe(self) -> dict:
        return {"url": self.url, "format": self.fmt, "flush_interval": self.flush_interval,
                "retry_scale": self.retry_scale, "max_attempts": self.max_attempts,
                "queued": sum(len(q) for q in self._queued.values()), "held": len(self._held)}

    def notify(self, realm: str, entity: str, entity_id: str, operation: str, epoch: float) -> None:
        with self._cond:
            queue = self._queued.setdefault(realm, deque(maxlen=MAX_QUEUED))
            if not queue:
                self._first_queued[realm] = time.monotonic()
            queue.append({"name": entity, "id": entity_id, "operation": operation, "epoch": epoch})
            self._cond.notify_all()

    def flush(self) -> list[dict]:
        """Send everything now: held deliveries get their next attempt, queued events go out. Returns what was
        sent in this call."""
        return [d.summary() for d in self._deliver(force=True)]

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        self._session.close()

    def reset(self) -> None:
        with self._cond:
            self._queued.clear()
            self._first_queued.clear()
            self._held.clear()
            self.log.clear()

    # -- internals ------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                self._cond.wait(self._next_wait())
                if self._stopped:
                    return
            self._deliver(force=False)

    def _next_wait(self) -> float:
        now, waits = time.monotonic(), [5.0]
        if self.url:
            waits += [d.due - now for d in self._held.values()]
            waits += [self._first_queued[r] + self.flush_interval - now for r, q in self._queued.items()
                      if q and r not in self._held]
        return max(0.01, min(waits))

    def _deliver(self, force: bool) -> list[Delivery]:
        sent = []
        with self._send_lock:
            for delivery in self._due(force):
                self._attempt(delivery)
                sent.append(delivery)
        return sent

    def _due(self, force: bool) -> list[Delivery]:
        now, due = time.monotonic(), []
        with self._cond:
            if not self.url:
                return []
            for realm in sorted(set(self._queued) | set(self._held)):
                held = self._held.get(realm)
                if held is not None:
                    if force or held.due <= now:
                        due.append(held)
                    continue
                queue = self._queued.get(realm)
                if queue and (force or now - self._first_queued[realm] >= self.flush_interval):
                    events = list(queue)
                    queue.clear()
                    delivery = self._build(realm, events)
                    self._held[realm] = delivery
                    self.log.append(delivery)
                    due.append(delivery)
        return due

    def _build(self, realm: str, events: list[dict]) -> Delivery:
        latest: dict[tuple[str, str, str], dict] = {}
        for event in events:  # repeated changes of one object in one batch are reported once, with the latest time
            latest[(event["name"], event["id"], event["operation"])] = event
        ordered = sorted(latest.values(), key=lambda e: e["epoch"])
        if self.fmt == "cloudevents":
            payload: object = [{"specversion": "1.0", "id": str(uuid.uuid4()), "source": f"intuit.emulator.{realm}",
                                "type": f"qbo.{e['name'].lower()}.{PAST.get(e['operation'], 'updated')}.v1",
                                "datacontenttype": "application/json", "time": webhook_time(e["epoch"]),
                                "intuitentityid": e["id"], "intuitaccountid": realm, "data": {}} for e in ordered]
            content_type = "application/cloudevents+json"
        else:
            payload = {"eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": [
                {"name": e["name"], "id": e["id"], "operation": e["operation"],
                 "lastUpdated": webhook_time(e["epoch"])} for e in ordered]}}]}
            content_type = "application/json"
        body = json.dumps(payload, separators=(",", ":")).encode()
        return Delivery(f"whk_{next(self._ids)}", realm, self.url or "", body, content_type)

    def _attempt(self, delivery: Delivery) -> None:
        headers = {"Content-Type": delivery.content_type, SIGNATURE_HEADER: sign(self.verifier_token, delivery.body)}
        attempt: dict = {"at": time.time()}
        try:
            response = self._session.post(delivery.url, data=delivery.body, headers=headers, timeout=self.timeout)
            attempt["status"] = response.status_code
        except requests.RequestException as exc:
            attempt.update(status=None, error=f"{type(exc).__name__}: {exc}"[:300])
        delivery.attempts.append(attempt)
        with self._cond:
            if attempt["status"] is not None and 200 <= attempt["status"] < 300:
                delivery.status = "delivered"
            elif len(delivery.attempts) >= self.max_attempts:
                delivery.status = "failed"
            else:
                step = RETRY_SCHEDULE[min(len(delivery.attempts), len(RETRY_SCHEDULE)) - 1]
                delivery.due = time.monotonic() + step * self.retry_scale
                return
            self._held.pop(delivery.realm, None)
            if self._queued.get(delivery.realm):
                self._first_queued[delivery.realm] = time.monotonic()
            self._cond.notify_all()
