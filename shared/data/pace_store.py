"""The shared pacing state of pacing.py in DynamoDB: one item per company and limit, one UpdateItem per reservation.

GCRA's step is new_tat = max(tat, now) + interval, allowed while max(tat, now) - tolerance - now <= max_wait.
DynamoDB has no max() in update expressions, so the two sides of it are two conditional updates, each atomic alone:
- in turn (tat >= now): `ADD tat :interval` if now <= tat <= now + tolerance + max_wait; the new tat comes back
  (ReturnValues=UPDATED_NEW) and gives the wait;
- now (no item, or tat < now): `SET tat = now + interval`, no wait.
The store remembers the last tat it saw per key and picks the side that tat predicts; a company being paced stays
"in turn", an idle one "now", so one call is the rule. A wrong guess fails its condition and DynamoDB returns the
item as it is (ReturnValuesOnConditionCheckFailure=ALL_OLD), which settles the side (or the over-long wait, with
nothing written) for the one retry. PynamoDB's Model.update cannot ask for that old item, so this uses boto3."""

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

    @staticmethod
    def _update(key: str, update: str, condition: str, values: dict) -> dict:
        try:
            return client("dynamodb").update_item(
                TableName=PaceItem.Meta.table_name, Key={"id": {"S": f"PACE#{key}"}}, UpdateExpression=update,
                ConditionExpression=condition, ExpressionAttributeValues=values, ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD")["Attributes"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            old = exc.response.get("Item") or {}
            raise _Moved(float(old["tat"]["N"]) if "tat" in old else None) from None


class _Moved(Exception):  # noqa: N818 - control flow inside reserve, never raised out of it
    """The item is not on the side we guessed; `tat` is what it holds now (None: no item)."""

    def __init__(self, tat: float | None):
        super().__init__(tat)
        self.tat = tat
