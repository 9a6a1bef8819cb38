"""The shared pacing state of pacing.py in DynamoDB: one item per company and limit, one UpdateItem per reservation.

GCRA's step is new_tat = max(tat, now) + interval, allowed while max(tat, now) - tolerance - now <= max_wait.
DynamoDB has no max() in update expressions, so the two sides of it are two conditional updates, each atomic alone:
- in turn (tat >= now): `ADD tat :interval` if now <= tat <= now + tolerance + max_wait; the new tat comes back
  (ReturnValues=UPDATED_NEW) and gives the wait;
- now (no item, or tat < now): `SET tat = now + interval`, no wait.
The store remembers the last tat it saw per key and picks the side that tat predicts; a company being paced stays
"in turn", an idle one "now", so one call is the rule. A wrong guess fails its condition and DynamoDB returns the
item as it is (ReturnValuesOnConditionCheckFailure=ALL_OLD), which settles the side (or the over-long wait, with
nothing written) for the one retry. PynamoDB's Model.update cannot ask for that old item, so this uses boto3.

Concurrency slots (pacing.Pacer.concurrent) are one item per company, `PACE#{realm}#slots`, with one attribute per
slot (`s0`..`s7`) holding the end of its lease. Taking slots is one UpdateItem that sets the chosen ones, on the
condition that each is absent or expired; a wrong guess gets the item back the same way and picks from what it
shows is free. Giving them back removes only the slots still holding our own lease end."""

from __future__ import annotations

from botocore.exceptions import ClientError

from shared.aws.clients import client
from shared.data.models import PaceItem
from shared.quickbooks.pacing import Limit

KEEP_S = 3600  # an idle company's item expires; a missing item means "no recent calls", which is the truth
MAX_ATTEMPTS = 8  # two sides: more than a couple of attempts means the item keeps changing sides under us


def _n(value: float) -> dict:
    return {"N": repr(float(value))}


class DynamoPaceStore:
    def __init__(self) -> None:
        self._last_tat: dict[str, float] = {}

    def reserve(self, key: str, now: float, limit: Limit, max_wait_s: float) -> float | None:
        in_turn = self._last_tat.get(key, float("-inf")) >= now
        latest = now + limit.tolerance + max_wait_s  # the last tat whose slot is still within max_wait_s
        for _ in range(MAX_ATTEMPTS):
            try:
                new_tat = self._in_turn(key, now, latest, limit) if in_turn else self._now(key, now, limit)
            except _Moved as moved:
                if moved.tat is not None and moved.tat > latest:
                    self._last_tat[key] = moved.tat
                    return None  # nothing reserved
                in_turn = moved.tat is not None and moved.tat >= now
                continue
            self._last_tat[key] = new_tat
            wait = new_tat - limit.interval - limit.tolerance - now
            return wait if wait > 1e-6 else 0.0  # float dust is not a wait
        raise RuntimeError(f"pacing slot for {key} changed sides {MAX_ATTEMPTS} times in a row")

    def _in_turn(self, key: str, now: float, latest: float, limit: Limit) -> float:
        item = self._update(key, "SET expiration = :exp ADD tat :interval", "tat BETWEEN :now AND :latest",
                            {":interval": _n(limit.interval), ":now": _n(now), ":latest": _n(latest),
                             ":exp": {"N": str(int(now) + KEEP_S)}})
        return float(item["tat"]["N"])

    def _now(self, key: str, now: float, limit: Limit) -> float:
        tat = now + limit.interval
        self._update(key, "SET tat = :tat, expiration = :exp", "attribute_not_exists(tat) OR tat < :now",
                     {":tat": _n(tat), ":now": _n(now), ":exp": {"N": str(int(now) + KEEP_S)}})
        return tat

    def peek(self, keys: list[str]) -> dict[str, float]:
        # One BatchGetItem for both limits of a company, strongly consistent: the lanes decide from what every
        # Lambda of the company has reserved, not from this container's last guess. Keys DynamoDB leaves
        # unprocessed are asked again: a missing item would read as an idle company.
        table = PaceItem.Meta.table_name
        request = {table: {"Keys": [{"id": {"S": f"PACE#{key}"}} for key in keys], "ConsistentRead": True,
                           "ProjectionExpression": "id, tat"}}
        tats: dict[str, float] = {}
        for _ in range(MAX_ATTEMPTS):
            response = client("dynamodb").batch_get_item(RequestItems=request)
            tats.update((item["id"]["S"].removeprefix("PACE#"), float(item["tat"]["N"]))
                        for item in response.get("Responses", {}).get(table, []) if "tat" in item)
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return tats
        raise RuntimeError(f"pacing items {keys} stayed unprocessed {MAX_ATTEMPTS} times in a row")

    def lease_slots(self, key: str, want: int, now: float, until: float, slots: int) -> list[int]:
        free = list(range(slots))  # first guess: an idle company
        for _ in range(MAX_ATTEMPTS):
            chosen = free[:want]
            if not chosen:
                return []
            names = {f"#s{i}": f"s{i}" for i in chosen}
            try:
                self._update(key, "SET " + ", ".join(f"#s{i} = :until" for i in chosen) + ", expiration = :exp",
                             " AND ".join(f"(attribute_not_exists(#s{i}) OR #s{i} < :now)" for i in chosen),
                             {":until": _n(until), ":now": _n(now), ":exp": {"N": str(int(until) + KEEP_S)}}, names)
                return chosen
            except _Moved as moved:
                held = moved.item or {}
                free = [i for i in range(slots) if f"s{i}" not in held or float(held[f"s{i}"]["N"]) < now]
        return []

    def release_slots(self, key: str, taken: list[int], until: float) -> None:
        # All at once (they were taken together, with the same lease end); one by one only if a lease ran out
        # and another caller took that slot, which stays theirs.
        if not taken:
            return
        for group in (taken, *([i] for i in taken)):
            names = {f"#s{i}": f"s{i}" for i in group}
            try:
                self._update(key, "REMOVE " + ", ".join(names), " AND ".join(f"{n} = :until" for n in names),
                             {":until": _n(until)}, names, returns="NONE")
                if group is taken:
                    return
            except _Moved:
                continue

    @staticmethod
    def _update(key: str, update: str, condition: str, values: dict, names: dict | None = None,
                returns: str = "UPDATED_NEW") -> dict:
        try:
            return client("dynamodb").update_item(
                TableName=PaceItem.Meta.table_name, Key={"id": {"S": f"PACE#{key}"}}, UpdateExpression=update,
                ConditionExpression=condition, ExpressionAttributeValues=values, ReturnValues=returns,
                ReturnValuesOnConditionCheckFailure="ALL_OLD", **({"ExpressionAttributeNames": names} if names
                                                                   else {})).get("Attributes", {})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            old = exc.response.get("Item") or {}
            raise _Moved(float(old["tat"]["N"]) if "tat" in old else None, old) from None


class _Moved(Exception):  # noqa: N818 - control flow inside reserve, never raised out of it
    """The item is not on the side we guessed; `tat` is what it holds now (None: no item), `item` all of it."""

    def __init__(self, tat: float | None, item: dict | None = None):
        super().__init__(tat)
        self.tat, self.item = tat, item
