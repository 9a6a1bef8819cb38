"""The webhook benchmark's delivery clock (bench/webhooks.py): a change starts its clock at the first delivery
after it was made, never at an earlier one naming the same record (in the fairness part, companies measured alone
first change the same records again beside the noisy company)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from bench.webhooks import Change, _note_deliveries


def _platform_delivery(tenant, client_id, at):
    body = json.dumps({"data": {"object": {"id": client_id}}})
    return SimpleNamespace(status="delivered", event_type="client.updated", tenant_id=tenant, body=body,
                           attempts=[{"at": at, "status": 200}])


def _bench(deliveries):
    stack = SimpleNamespace(fsp_app=SimpleNamespace(sender=SimpleNamespace(log=deliveries)),
                            qbo_app=SimpleNamespace(webhooks=SimpleNamespace(log=[])))
    return SimpleNamespace(stack=stack, realms={})


def test_a_change_not_made_yet_takes_no_earlier_delivery_of_its_record():
    earlier = _platform_delivery("t1", "cli_1", at=100.0)  # the same client, changed when measured alone
    change = Change("t1", "client", "cli_1", "1", "(602) 555-0001")
    bench = _bench([earlier])
    _note_deliveries(bench, [change])
    assert change.delivered_at is None
    change.made_at = 150.0
    bench.stack.fsp_app.sender.log.append(_platform_delivery("t1", "cli_1", at=150.4))
    _note_deliveries(bench, [change])
    assert change.delivered_at == 150.4
