import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulators.datagen import generate
from shared.domain.matching import AMBIGUOUS, CONTRADICTING_DETAILS, Match, MatchResult, Party, match_parties
from shared.domain.names import normalize_address_key, normalize_name

# Few names (several spellings of each), few details: collisions on every side, as in real books.
NAMES = ["Acme", "ACME Inc.", "acme inc ", "The Acme Co.", "Bolt Electric", "Bolt Electric, LLC", "Café Olé",
         "Cafe Ole", "Smith & Jones", "Smith and Jones P.C.", "Zed"]
EMAILS = [None, "a@x.com", " A@X.com", "b@x.com"]
PHONES = [None, "480-555-0001", "+1 (480) 555-0001", "480 555 0002"]
ADDRESSES = ["", "1 main st|85001", "2 oak ave|85002"]

PEOPLE = [None, ("Ann", "Lee"), ("ann", "lee "), ("Bo", "Smith")]

# A display name, maybe a company, maybe a contact person: QuickBooks records often hold all three, differently.
_fields = st.tuples(st.sampled_from(NAMES), st.sampled_from([None, *NAMES]), st.sampled_from(PEOPLE),
                    st.sampled_from(EMAILS), st.sampled_from(PHONES), st.sampled_from(ADDRESSES), st.booleans())


def _parties(rows, prefix: str) -> list[Party]:
    return [Party(f"{prefix}{i + 1}", name, company, *(person or (None, None)), email, phone, address, active)
            for i, (name, company, person, email, phone, address, active) in enumerate(rows)]


sides = st.tuples(st.lists(_fields, max_size=8).map(lambda r: _parties(r, "")),
                  st.lists(_fields, max_size=8).map(lambda r: _parties(r, "c")))


def _pairs(result: MatchResult) -> set[tuple[str, str]]:
    return {(m.qbo_id, m.fsp_id) for m in result.matches}


def _keys(p: Party) -> set[str]:
    primary = p.company or " ".join(x for x in (p.first, p.last) if x)
    return {k for k in (normalize_name(primary), normalize_name(p.name)) if k}


@settings(max_examples=150, deadline=None)
@given(sides, st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_input_order(both, rnd):
    qbo, fsp = both
    shuffled_q, shuffled_f = qbo[:], fsp[:]
    rnd.shuffle(shuffled_q)
    rnd.shuffle(shuffled_f)
    assert match_parties(shuffled_q, shuffled_f) == match_parties(qbo, fsp)


@settings(max_examples=150, deadline=None)
@given(sides)
def test_every_record_lands_in_exactly_one_place_and_matches_are_one_to_one(both):
    qbo, fsp = both
    r = match_parties(qbo, fsp)
    q_seen = [m.qbo_id for m in r.matches] + [i for c in r.conflicts for i in c.qbo_ids] + r.unmatched_qbo
    f_seen = [m.fsp_id for m in r.matches] + [i for c in r.conflicts for i in c.fsp_ids] + r.unmatched_fsp
    assert sorted(q_seen) == sorted(p.id for p in qbo)
    assert sorted(f_seen) == sorted(p.id for p in fsp)
    assert all(c.qbo_ids and c.fsp_ids and c.reason and c.kind in (AMBIGUOUS, CONTRADICTING_DETAILS)
               for c in r.conflicts)


@settings(max_examples=150, deadline=None)
@given(sides)
def test_swapping_the_sides_swaps_the_result(both):
    qbo, fsp = both
    r, swapped = match_parties(qbo, fsp), match_parties(fsp, qbo)
    assert {(m.fsp_id, m.qbo_id, m.evidence) for m in swapped.matches} == {
        (m.qbo_id, m.fsp_id, m.evidence) for m in r.matches}
    assert {(c.kind, c.fsp_ids, c.qbo_ids) for c in swapped.conflicts} == {
        (c.kind, c.qbo_ids, c.fsp_ids) for c in r.conflicts}
    assert (set(swapped.unmatched_qbo), set(swapped.unmatched_fsp)) == (set(r.unmatched_fsp), set(r.unmatched_qbo))


@settings(max_examples=150, deadline=None)
@given(sides)
def test_matching_the_matched_again_gives_the_same_pairs(both):
    qbo, fsp = both
    r = match_parties(qbo, fsp)
    q_ids, f_ids = {m.qbo_id for m in r.matches}, {m.fsp_id for m in r.matches}
    again = match_parties([p for p in qbo if p.id in q_ids], [p for p in fsp if p.id in f_ids])
    assert again.matches == r.matches
    assert not again.conflicts and not again.unmatched_qbo and not again.unmatched_fsp


@settings(max_examples=150, deadline=None)
@given(sides)
def test_a_shared_name_alone_merges_only_when_no_one_else_has_it(both):
    qbo, fsp = both
    for m in match_parties(qbo, fsp).matches:
        assert m.evidence[0] == "name"
        if len(m.evidence) > 1:
            continue
        q = next(p for p in qbo if p.id == m.qbo_id)
        f = next(p for p in fsp if p.id == m.fsp_id)
        shared = _keys(q) & _keys(f)
        assert shared and not any(_keys(o) & shared for o in qbo + fsp if o not in (q, f)), m


def _noisy(name: str, rnd: random.Random) -> str:
    out = name.upper() if rnd.random() < 0.5 else name.lower()
    out = "".join({"e": "é", "a": "á", "o": "ö", "u": "ü"}.get(ch, ch) if rnd.random() < 0.5 else ch for ch in out)
    return out + rnd.choice(["", " Inc.", " Inc", ", Inc."]) + rnd.choice(["", " ", "  "])


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=2, max_size=24).filter(lambda s: s.strip()),
       st.lists(st.sampled_from(NAMES), max_size=6), st.randoms(use_true_random=False))
def test_a_record_matches_its_noisy_copy_when_the_email_agrees(name, others, rnd):
    q_name, f_name = _noisy(name, rnd), _noisy(name, rnd)
    qbo = [Party("1", q_name, q_name, email="owner@shop.example")]
    fsp = [Party("c1", f_name, f_name, email=" OWNER@shop.example ")]
    for i, other in enumerate(others):  # bystanders, possibly with the same name, never the same details
        side, prefix = (qbo, "") if i % 2 else (fsp, "c")
        side.append(Party(f"{prefix}{i + 2}", other, other, email=f"other{i}@x.com", phone=f"602555{i:04d}"))
    assert Match("1", "c1", ("name", "email")) in match_parties(qbo, fsp).matches


# -- rules, by example -------------------------------------------------------------------------------------------

def test_evidence_lists_what_agreed_in_a_fixed_order():
    q = Party("7", "Acme Plumbing", "Acme Plumbing, Inc.", email="Office@Acme.com", phone="(480) 555-0101",
              address_key="12 main st|85001")
    f = Party("cli_1", "ACME PLUMBING", "ACME PLUMBING", email="office@acme.com", phone="+1 480 555 0101",
              address_key="12 main st|85001")
    assert match_parties([q], [f]).matches == [Match("7", "cli_1", ("name", "email", "phone", "address"))]


def test_a_unique_name_with_nothing_to_compare_matches():
    r = match_parties([Party("1", "Zed Roofing", "Zed Roofing")], [Party("c1", "Zed Roofing LLC", "Zed Roofing LLC",
                                                                          email="zed@x.com")])
    assert r.matches == [Match("1", "c1", ("name",))]


def test_a_unique_name_whose_details_all_differ_is_a_conflict():
    q = Party("1", "Zed Roofing", "Zed Roofing", email="a@zed.com", phone="4805550001")
    f = Party("c1", "Zed Roofing", "Zed Roofing", email="b@zed.com", phone="4805550002")
    r = match_parties([q], [f])
    assert not r.matches and not r.unmatched_qbo and not r.unmatched_fsp
    [conflict] = r.conflicts
    assert conflict.kind == CONTRADICTING_DETAILS and (conflict.qbo_ids, conflict.fsp_ids) == (("1",), ("c1",))
    assert "email and phone" in conflict.reason
    # One detail agreeing is enough, even when another differs (people change phones).
    f2 = Party("c1", "Zed Roofing", "Zed Roofing", email="a@zed.com", phone="4805550002")
    assert match_parties([q], [f2]).matches == [Match("1", "c1", ("name", "email"))]


def test_the_candidate_with_strictly_more_evidence_wins():
    q = Party("1", "Acme", "Acme", email="a@acme.com", phone="4805550001")
    strong = Party("c1", "Acme", "Acme", email="a@acme.com", phone="4805550001")
    weak = Party("c2", "ACME Inc", "ACME Inc", email="a@acme.com")
    r = match_parties([q], [weak, strong])
    assert r.matches == [Match("1", "c1", ("name", "email", "phone"))]
    assert r.unmatched_fsp == ["c2"] and not r.conflicts


def test_a_tie_is_a_conflict_never_a_merge():
    q = Party("1", "Acme", "Acme", email="a@acme.com")
    r = match_parties([q], [Party("c2", "Acme ", "Acme ", email="a@acme.com"),
                            Party("c1", "Acme", "Acme", email="a@acme.com")])
    assert not r.matches
    assert r.conflicts[0].kind == AMBIGUOUS and r.conflicts[0].fsp_ids == ("c1", "c2")
    assert "single out" in r.conflicts[0].reason


def test_a_shared_name_without_evidence_is_never_merged():
    qbo = [Party("1", "Acme", "Acme"), Party("2", "Acme Inc.", "Acme Inc.")]
    r = match_parties(qbo, [Party("c1", "ACME", "ACME")])
    assert not r.matches
    assert [(c.kind, c.qbo_ids, c.fsp_ids) for c in r.conflicts] == [(AMBIGUOUS, ("1", "2"), ("c1",))]
    assert "nothing besides the name" in r.conflicts[0].reason


def test_an_email_alone_never_matches():
    r = match_parties([Party("1", "Acme", "Acme", email="a@x.com")], [Party("c1", "Bolt", "Bolt", email="a@x.com")])
    assert not r.matches and not r.conflicts and r.unmatched_qbo == ["1"] and r.unmatched_fsp == ["c1"]


def test_a_display_name_different_from_the_contact_still_matches():
    # QuickBooks often keeps the business in DisplayName only, with the contact person in GivenName/FamilyName.
    q = Party("1", "Acme Plumbing", None, "John", "Smith", email="john@acme.com")
    f = Party("c1", "Acme Plumbing LLC", "Acme Plumbing LLC", "John", "Smith", email="john@acme.com")
    assert match_parties([q], [f]).matches == [Match("1", "c1", ("name", "email"))]


def test_ids_sort_as_numbers_and_duplicate_ids_are_refused():
    qbo = [Party(str(i), f"Shop {i}", f"Shop {i}") for i in (10, 9, 100)]
    fsp = [Party(f"c{i}", f"Shop {i}", f"Shop {i}") for i in (10, 9, 100)]
    assert [m.qbo_id for m in match_parties(qbo, fsp).matches] == ["9", "10", "100"]
    with pytest.raises(ValueError):
        match_parties([Party("1", "A"), Party("1", "B")], [])


# -- the generator's planted hard cases --------------------------------------------------------------------------

def _qbo_party(c: dict) -> Party:
    bill = c.get("BillAddr") or {}
    return Party(c["Id"], c["DisplayName"], c.get("CompanyName"), c.get("GivenName"), c.get("FamilyName"),
                 (c.get("PrimaryEmailAddr") or {}).get("Address"), (c.get("PrimaryPhone") or {}).get("FreeFormNumber"),
                 normalize_address_key(bill.get("Line1"), bill.get("PostalCode")), c["Active"])


def _fsp_party(c: dict) -> Party:
    contact, address = c["contact"], c.get("billing_address") or {}
    name = c["company_name"] or " ".join(x for x in (contact["first_name"], contact["last_name"]) if x)
    return Party(c["id"], name, c["company_name"], contact["first_name"], contact["last_name"], contact["email"],
                 contact["phone"], normalize_address_key(address.get("line1"), address.get("postal_code")),
                 c["active"])


@pytest.fixture(scope="module")
def generated():
    data = generate(11, 400)
    qbo = [_qbo_party(c) for c in data.quickbooks["Customer"] if not c["Job"]]  # jobs are the caller's business
    fsp = [_fsp_party(c) for c in data.fieldservice["clients"]]
    return data.expectations, match_parties(qbo, fsp)


def test_generated_matches_are_found_exactly(generated):
    expected, result = generated
    want = {(m["qbo_customer_id"], m["fsp_client_id"]) for m in expected["matches"]}
    assert _pairs(result) == want
    variations = {m["variation"] for m in expected["matches"]}
    assert {"case", "punctuation", "inc_suffix", "trailing_space", "individual", "exact"} <= variations


def test_generated_duplicates_become_conflicts_not_merges(generated):
    expected, result = generated
    conflicts = {(frozenset(c.qbo_ids), frozenset(c.fsp_ids)) for c in result.conflicts}
    assert {"duplicate_on_platform", "duplicate_in_quickbooks"} == {a["reason"] for a in expected["ambiguous"]}
    assert conflicts == {(frozenset(a["qbo_customer_ids"]), frozenset(a["fsp_client_ids"]))
                         for a in expected["ambiguous"]}
    assert all(c.kind == AMBIGUOUS for c in result.conflicts)


def test_generated_one_sided_records_stay_unmatched(generated):
    expected, result = generated
    assert set(result.unmatched_fsp) == set(expected["platform_only"])
    assert set(result.unmatched_qbo) == set(expected["quickbooks_only"])
    # among them: names QuickBooks refuses or cannot hold, and non-ASCII names
    assert set(expected["forbidden_characters"]) | set(expected["too_long_for_quickbooks"]) <= set(
        result.unmatched_fsp)


def test_generated_carefree_and_non_ascii_names_match(generated):
    expected, result = generated
    carefree = expected["job_locations"][0]
    assert (carefree["qbo_parent_id"], carefree["fsp_client_id"]) in _pairs(result)
    matched_qbo = {m.qbo_id for m in result.matches}
    non_ascii_pairs = [m for m in expected["matches"] if m["qbo_customer_id"] in expected["non_ascii"]["quickbooks"]]
    assert non_ascii_pairs and all(m["qbo_customer_id"] in matched_qbo for m in non_ascii_pairs)


def test_generated_inactive_records_match_like_active_ones(generated):
    expected, result = generated
    inactive = set(expected["inactive"]["platform"])
    expected_inactive = {m["fsp_client_id"] for m in expected["matches"]} & inactive
    assert expected_inactive and expected_inactive <= {m.fsp_id for m in result.matches}
