import hashlib
import json

import pytest

from emulators.datagen import generate
from emulators.datagen.generator import name_key
from emulators.fieldservice.contract import contract
from emulators.fieldservice.state import State

RECORD_SCHEMA = {"clients": "Client", "sites": "Site", "job_types": "JobType", "items": "Item",
                 "invoices": "Invoice", "payments": "Payment"}


def _digest(dataset):
    return hashlib.sha256((dataset.fieldservice_json() + dataset.quickbooks_json()
                           + json.dumps(dataset.expectations, ensure_ascii=False)).encode()).hexdigest()


@pytest.fixture(scope="module")
def small():
    return generate(11, 300)


def test_same_seed_same_output_and_another_seed_differs():
    assert _digest(generate(5, 120)) == _digest(generate(5, 120))
    assert _digest(generate(5, 120)) != _digest(generate(6, 120))


def test_platform_records_match_the_contract_and_survive_loading_unchanged(small):
    c = contract()
    state = State()
    tenant = state.create_tenant("t1")
    state.load(tenant, small.fieldservice)
    for kind, rows in small.fieldservice.items():
        assert rows, kind
        for row in rows:
            assert c.field_errors(RECORD_SCHEMA[kind], row) == [], (kind, row["id"])
            # the emulator recomputes totals and amounts paid: equal means the generator's arithmetic is right
            assert tenant.records[kind][row["id"]] == row


def test_quickbooks_side_has_quickbooks_shape_and_rules(small):
    customers = small.quickbooks["Customer"]
    by_id = {c["Id"]: c for c in customers}
    names = [c["DisplayName"].lower() for c in customers]
    assert len(names) == len(set(names)), "DisplayName is unique in QuickBooks"
    for c in customers:
        assert not any(ch in c["DisplayName"] for ch in ":\t\n") and len(c["DisplayName"]) <= 100
        if c["Job"]:
            parent = by_id[c["ParentRef"]["value"]]
            assert c["FullyQualifiedName"] == f"{parent['FullyQualifiedName']}:{c['DisplayName']}"
            assert c["Level"] == parent.get("Level", 0) + 1
    json.loads(small.quickbooks_json())
    assert '"UnitPrice": 150.00' in small.quickbooks_json(), "money is written as exact JSON numbers"
    assert {i["Type"] for i in small.quickbooks["Item"]} == {"Service", "NonInventory", "Inventory"}


def test_every_hard_case_is_planted_and_described(small):
    e = small.expectations
    clients = {c["id"]: c for c in small.fieldservice["clients"]}
    customers = {c["Id"]: c for c in small.quickbooks["Customer"]}
    variations = {m["variation"] for m in e["matches"]}
    assert {"exact", "case", "punctuation", "inc_suffix", "trailing_space", "individual"} <= variations
    for m in e["matches"]:
        assert name_key(m["fsp_name"]) == name_key(m["qbo_name"])
        assert clients[m["fsp_client_id"]]["contact"]["email"] == customers[m["qbo_customer_id"]][
            "PrimaryEmailAddr"]["Address"]
    carefree = e["job_locations"][0]
    assert customers[carefree["qbo_parent_id"]]["DisplayName"] == "Carefree" and len(carefree["jobs"]) == 4
    assert all(customers[j["qbo_customer_id"]]["CompanyName"] == "Carefree" for j in carefree["jobs"])
    assert {a["reason"] for a in e["ambiguous"]} == {"duplicate_on_platform", "duplicate_in_quickbooks"}
    assert e["project_jobs"] and e["site_matches"]
    for side in ("platform", "quickbooks"):
        assert e["missing_state"][side] and e["inactive"][side] and e["non_ascii"][side]
    for cid in e["forbidden_characters"]:
        assert any(ch in clients[cid]["company_name"] for ch in ":\t\n")
    assert len(clients[e["too_long_for_quickbooks"][0]]["company_name"]) > 100
    invoices = {i["id"]: i for i in small.fieldservice["invoices"]}
    assert all(invoices[i]["total"] == "0.00" and invoices[i]["status"] == "ready_for_sync"
               for i in e["invoices"]["zero_total"])
    assert all(invoices[i]["status"] in {"draft", "approved"} for i in e["invoices"]["not_ready"])
    assert e["items"]["platform_only"] and e["items"]["quickbooks_only"] and e["items"]["matches"]
    qbo_keys = {name_key(c["DisplayName"]) for c in customers.values()}
    assert not any(name_key(clients[c]["company_name"] or "") in qbo_keys for c in e["platform_only"]
                   if clients[c]["company_name"])


def test_ten_thousand_clients_have_the_planted_shape():
    # How long generation takes is a benchmark figure (bench/onboarding.py prints it), never a unit test's pass.
    data = generate(7, 10_000)
    counts = data.expectations["counts"]
    assert counts["platform"]["clients"] == 10_000 and counts["quickbooks_top_level_customers"] == 10_000
    assert counts["quickbooks_parents_with_jobs"] == 2_000
    assert len(data.expectations["matches"]) + len(data.expectations["ambiguous"]) == 5_000
    assert counts["platform"]["invoices"] > 15_000 and counts["platform"]["payments"] > 5_000
