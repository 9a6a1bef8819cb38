"""The onboarding plan on generated books full of the seeds' hard cases (no I/O: the plan is pure)."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulators.datagen import generate
from shared.domain import parties
from shared.domain.onboarding_plan import MISSING_STATE, plan_onboarding
from shared.domain.settings import MISSING_STATE_MESSAGE, SyncSettings, default_settings
from shared.fieldservice.http_adapter import client_from_wire, site_from_wire
from shared.quickbooks.shapes import customer_state


def _inputs(seed: int, clients: int = 60):
    data = generate(seed=seed, clients=clients)
    qbo = [customer_state(c).compact() for c in data.quickbooks["Customer"]]
    fsp = [parties.compact_client(client_from_wire(c)) for c in data.fieldservice["clients"]]
    sites = [parties.compact_site(site_from_wire(s)) for s in data.fieldservice["sites"]]
    return data, qbo, fsp, sites


def _settings(**changes) -> SyncSettings:
    body = default_settings().model_dump()
    for section, values in changes.items():
        body[section] = {**body[section], **values}
    return SyncSettings.model_validate(body)


DEFAULT_STATE = _settings(clients={"use_default_state": True, "default_state": "CA"})


@pytest.fixture(scope="module")
def books():
    return _inputs(3)


def test_every_planted_match_is_found_and_nothing_is_created_for_it(books):
    data, qbo, fsp, sites = books
    plan = plan_onboarding(qbo, fsp, sites, {}, DEFAULT_STATE, [])
    pairs = {(q, f) for q, f, _ in plan.matches}
    expected = {(m["qbo_customer_id"], m["fsp_client_id"]) for m in data.expectations["matches"]}
    assert expected <= pairs
    created_fsp = {r["fsp_id"] for r in plan.to_quickbooks}
    created_qbo = {r["qbo_id"] for r in plan.to_platform}
    assert not created_fsp & {f for _, f in pairs} and not created_qbo & {q for q, _ in pairs}


def test_job_locations_become_sites_never_clients(books):
    data, qbo, fsp, sites = books
    plan = plan_onboarding(qbo, fsp, sites, {}, DEFAULT_STATE, [])
    jobs = {j["qbo_customer_id"] for loc in data.expectations["job_locations"] for j in loc["jobs"]}
    projects = {p["qbo_customer_id"] for p in data.expectations["project_jobs"]}
    assert not {r["qbo_id"] for r in plan.to_platform} & (jobs | projects)
    site_side = {q for q, _ in plan.site_matches} | {r["qbo_id"] for r in plan.sites_to_platform}
    carefree = data.expectations["job_locations"][0]
    assert {j["qbo_customer_id"] for j in carefree["jobs"]} <= site_side
    assert {(s["qbo_customer_id"], s["fsp_site_id"]) for s in data.expectations["site_matches"]} <= set(
        plan.site_matches)
    assert not site_side & projects
    by_id = {r["id"]: r for r in qbo}
    for row in plan.sites_to_platform:  # what QuickBooks holds, so the first sync need not read each job again
        assert row["sync_token"] == by_id[row["qbo_id"]]["sync_token"] and row["held"]["ship_key"]


def test_ambiguous_candidates_are_reported_and_left_alone(books):
    data, qbo, fsp, sites = books
    plan = plan_onboarding(qbo, fsp, sites, {}, DEFAULT_STATE, [])
    in_conflict = {i for c in plan.conflicts for i in (*c["qbo_ids"], *c["fsp_ids"])}
    for planted in data.expectations["ambiguous"]:
        assert set(planted["fsp_client_ids"]) | set(planted["qbo_customer_ids"]) <= in_conflict
    created = {r["fsp_id"] for r in plan.to_quickbooks} | {r["qbo_id"] for r in plan.to_platform}
    matched = {i for q, f, _ in plan.matches for i in (q, f)}
    assert not in_conflict & (created | matched)


def test_names_quickbooks_refuses_are_adjusted_and_unique(books):
    data, qbo, fsp, sites = books
    plan = plan_onboarding(qbo, fsp, sites, {}, DEFAULT_STATE, ["Vendor Name"])
    names = [r["customer"]["display_name"] for r in plan.to_quickbooks + plan.sites_to_quickbooks]
    existing = {c["name"].casefold() for c in qbo}
    assert len({n.casefold() for n in names}) == len(names) and not {n.casefold() for n in names} & existing
    assert all(":" not in n and "\t" not in n and "\n" not in n and len(n) <= 100 for n in names)
    forbidden = set(data.expectations["forbidden_characters"]) | set(data.expectations["too_long_for_quickbooks"])
    assert forbidden <= {r["fsp_id"] for r in plan.to_quickbooks}


def test_without_default_state_a_stateless_customer_fails_with_the_seeds_message(books):
    data, qbo, fsp, sites = books
    plan = plan_onboarding(qbo, fsp, sites, {}, _settings(clients={"use_default_state": False}), [])
    stateless = set(data.expectations["missing_state"]["quickbooks"])
    skipped = {s["id"]: s for s in plan.skipped if s["code"] == MISSING_STATE}
    planned = {r["qbo_id"] for r in plan.to_platform}
    assert stateless and not planned & stateless
    assert all(s["message"] == MISSING_STATE_MESSAGE for s in skipped.values())
    with_default = plan_onboarding(qbo, fsp, sites, {}, DEFAULT_STATE, [])
    assert not [s for s in with_default.skipped if s["code"] == MISSING_STATE]
    assert all(r["client"]["address"]["state"] for r in with_default.to_platform if r["client"]["address"])


@pytest.mark.parametrize("direction,empty", [("quickbooks_master", "to_quickbooks"),
                                             ("platform_master", "to_platform")])
def test_direction_decides_which_side_receives_new_records(books, direction, empty):
    _, qbo, fsp, sites = books
    plan = plan_onboarding(qbo, fsp, sites, {}, _settings(clients={"direction": direction, "use_default_state": True,
                                                                   "default_state": "CA"}), [])
    assert getattr(plan, empty) == []


def test_inactive_records_are_not_copied(books):
    data, qbo, fsp, sites = books
    plan = plan_onboarding(qbo, fsp, sites, {}, DEFAULT_STATE, [])
    inactive = set(data.expectations["inactive"]["platform"]) | set(data.expectations["inactive"]["quickbooks"])
    assert not inactive & ({r["fsp_id"] for r in plan.to_quickbooks} | {r["qbo_id"] for r in plan.to_platform})


def test_a_second_plan_after_linking_creates_nothing(books):
    _, qbo, fsp, sites = books
    first = plan_onboarding(qbo, fsp, sites, {}, DEFAULT_STATE, [])
    # Pretend every create succeeded: the records now exist on both sides and are linked.
    linked = {q: f for q, f, _ in first.matches}
    linked.update({f"new-{r['fsp_id']}": r["fsp_id"] for r in first.to_quickbooks})
    linked.update({r["qbo_id"]: f"new-{r['qbo_id']}" for r in first.to_platform})
    qbo2 = qbo + [{**customer_state({"Id": q, "DisplayName": r["customer"]["display_name"]}).compact()}
                  for q, r in ((f"new-{r['fsp_id']}", r) for r in first.to_quickbooks)]
    fsp2 = fsp + [{"id": f"new-{r['qbo_id']}", "name": r["client"]["company_name"] or "x", "active": True}
                  for r in first.to_platform]
    second = plan_onboarding(qbo2, fsp2, sites, linked, DEFAULT_STATE, [])
    assert second.to_quickbooks == [] and second.to_platform == []


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.randoms(use_true_random=False))
def test_the_plan_does_not_depend_on_input_order(seed, rng: random.Random):
    _, qbo, fsp, sites = _inputs(seed, clients=25)
    plan = plan_onboarding(qbo, fsp, sites, {}, DEFAULT_STATE, [])
    shuffled = [list(x) for x in (qbo, fsp, sites)]
    for rows in shuffled:
        rng.shuffle(rows)
    assert plan_onboarding(*shuffled, {}, DEFAULT_STATE, []) == plan


def test_an_admins_keep_separate_settles_the_conflict_and_both_records_are_created(books):
    _, qbo, fsp, sites = books
    first = plan_onboarding(qbo, fsp, sites, {}, DEFAULT_STATE, [])
    conflict = first.conflicts[0]
    separate = frozenset((q, f) for q in conflict["qbo_ids"] for f in conflict["fsp_ids"])
    second = plan_onboarding(qbo, fsp, sites, {}, DEFAULT_STATE, [], separate=separate)
    assert conflict not in second.conflicts and len(second.conflicts) == len(first.conflicts) - 1
    assert set(conflict["fsp_ids"]) <= {r["fsp_id"] for r in second.to_quickbooks}
    assert set(conflict["qbo_ids"]) <= {r["qbo_id"] for r in second.to_platform}
    names = [r["customer"]["display_name"].casefold() for r in second.to_quickbooks]
    assert len(names) == len(set(names)) and not set(names) & {c["name"].casefold() for c in qbo}


def test_the_plan_keeps_customer_drafts_not_quickbooks_json_and_they_survive_a_chunk(books):
    import json

    from shared.quickbooks.port import CustomerDraft

    _, qbo, fsp, sites = books
    plan = plan_onboarding(qbo, fsp, sites, {}, DEFAULT_STATE, [])
    rows = plan.to_quickbooks + plan.sites_to_quickbooks
    assert plan.to_quickbooks and plan.sites_to_quickbooks
    stored = json.loads(json.dumps(rows))  # a run chunk is JSON (gzip'd) in the sync-runs table
    for before, after in zip(rows, stored, strict=True):
        draft = CustomerDraft.from_dict(after["customer"])
        assert draft.as_dict() == before["customer"]
        assert not {"DisplayName", "BillAddr", "ShipAddr"} & set(after["customer"])
    assert all(CustomerDraft.from_dict(r["customer"]).job for r in stored[len(plan.to_quickbooks):])
