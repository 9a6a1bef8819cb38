"""The shared pacing state of pacing.py in DynamoDB: one item per company, one UpdateItem per QuickBooks call.

The item `PACE#{realm}` holds one theoretical arrival time per limit (`tat_request`, `tat_batch`), so a batch call,
which spends a slot of both limits, reserves both in the same UpdateItem (issue 15: one DynamoDB call per
QuickBooks call). GCRA's step is new_tat = max(tat, now) + interval, allowed while max(tat, now) - tolerance - now
<= max_wait. DynamoDB has no max() in update expressions, so each limit's side of it is one of two forms, each
atomic with the others in the one update:
- in turn (tat >= now): `ADD tat_x :interval` if now <= tat_x <= now + tolerance + max_wait; the new tat comes back
  (ReturnValues=UPDATED_NEW) and gives the wait;
- now (no tat yet, or tat < now): `SET tat_x = now + interval`, no wait.
The store remembers the last tat it saw per company and limit and picks the side that tat predicts; a company being
paced stays "in turn", an idle one "now", so one call is the rule. A wrong guess fails its condition and DynamoDB
returns the item as it is (ReturnValuesOnConditionCheckFailure=ALL_OLD), which settles the sides (or an over-long
wait, with nothing written) for the one retry. A call waits for the later of its limits' slots. PynamoDB's
Model.update cannot ask for that old item, so this uses boto3.

Concurrency slots (pacing.Pacer.concurrent) are one item per company, `PACE#{realm}#slots`, with one attribute per
slot (`s0`..`s7`) holding the end of its lease. Taking slots is one UpdateItem that sets the chosen ones, on the
condition that each is absent or expired; a wrong guess gets the item back the same way and picks from what it
shows is free. Giving them back removes only the slots still holding our own lease end."""

from __future__ import annotations

from collections.abc import Sequence

from botocore.exceptions import ClientError

from shared.aws.clients import client
from shared.data.models import PaceItem
from shared.quickbooks.pacing import Limit

KEEP_S = 3600  # an idle company's item expires; a missing item means "no recent calls", which is the truth
MAX_ATTEMPTS = 8  # two sides: more than a couple of attempts means the item keeps changing sides under us


def _n(value: float) -> dict:
    return {"N": repr(float(value))}


def _tat(item: dict, kind: str) -> float | None:
    value = item.get(f"tat_{kind}")
    return float(value["N"]) if value is not None else None


class DynamoPaceStore:
    def __init__(self) -> None:
        self._last_tat: dict[tuple[str, str], float] = {}

    def reserve(self, key: str, now: float, limits: Sequence[Limit], max_wait_s: float) -> float | None:
        in_turn = {lim.kind: self._last_tat.get((key, lim.kind), float("-inf")) >= now for lim in limits}
        for _ in range(MAX_ATTEMPTS):
            sets, adds, conditions = ["expiration = :exp"], [], []
            values, names = {":now": _n(now), ":exp": {"N": str(int(now) + KEEP_S)}}, {}
            for lim in limits:
                names[f"#{lim.kind}"] = f"tat_{lim.kind}"
                if in_turn[lim.kind]:
                    adds.append(f"#{lim.kind} :i_{lim.kind}")
                    conditions.append(f"#{lim.kind} BETWEEN :now AND :latest_{lim.kind}")
                    values[f":i_{lim.kind}"] = _n(lim.interval)
                    # the last tat whose slot is still within max_wait_s
                    values[f":latest_{lim.kind}"] = _n(now + lim.tolerance + max_wait_s)
                else:
                    sets.append(f"#{lim.kind} = :t_{lim.kind}")
                    conditions.append(f"(attribute_not_exists(#{lim.kind}) OR #{lim.kind} < :now)")
                    values[f":t_{lim.kind}"] = _n(now + lim.interval)
            update = "SET " + ", ".join(sets) + (" ADD " + ", ".join(adds) if adds else "")
            try:
                item = self._update(key, update, " AND ".join(conditions), values, names)
            except _Moved as moved:
                old = moved.item or {}
                for lim in limits:
                    tat = _tat(old, lim.kind)
                    if tat is not None and tat > now + lim.tolerance + max_wait_s:
                        self._last_tat[(key, lim.kind)] = tat
                        return None  # nothing reserved
                    in_turn[lim.kind] = tat is not None and tat >= now
                continue
            wait = 0.0
            for lim in limits:
                new_tat = _tat(item, lim.kind)
                new_tat = new_tat if new_tat is not None else now + lim.interval
                self._last_tat[(key, lim.kind)] = new_tat
                wait = max(wait, new_tat - lim.interval - lim.tolerance - now)
            return wait if wait > 1e-6 else 0.0  # float dust is not a wait
        raise RuntimeError(f"pacing slot for {key} changed sides {MAX_ATTEMPTS} times in a row")

    def peek(self, key: str) -> dict[str, float]:
        # Strongly consistent: the lanes decide from what every Lambda of the company has reserved, not from this
        # container's last guess.
        item = client("dynamodb").get_item(TableName=PaceItem.Meta.table_name, Key={"id": {"S": f"PACE#{key}"}},
                                           ConsistentRead=True).get("Item", {})
        return {name.removeprefix("tat_"): float(value["N"]) for name, value in item.items()
                if name.startswith("tat_")}

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
            raise _Moved(exc.response.get("Item") or {}) from None


class _Moved(Exception):  # noqa: N818 - control flow inside reserve and lease_slots, never raised out of them
    """The item is not as we guessed; `item` is what it holds now (empty: no item)."""

    def __init__(self, item: dict):
        super().__init__(item)
        self.item = item
