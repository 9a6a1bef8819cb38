import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.names import (
    DISPLAY_NAME_LIMIT,
    DISPLAY_NAME_MAX,
    display_name_key,
    normalize_address_key,
    normalize_email,
    normalize_name,
    normalize_phone,
    quickbooks_display_name,
)

FORBIDDEN = (":", "\t", "\n", "\r")


@pytest.mark.parametrize(("a", "b"), [
    ("Acme Plumbing", "ACME PLUMBING"),
    ("Acme Plumbing", "  Acme   Plumbing "),
    ("Bright Roofing, Inc.", "Bright Roofing Inc"),
    ("Bright Roofing Inc.", "Bright Roofing"),
    ("O'Neil's Plumbing, LLC", "ONeils Plumbing LLC"),
    ("Smith & Jones, P.C.", "Smith and Jones PC"),
    ("Smith & Co.", "Smith"),
    ("The Acme Co., Inc.", "Acme"),
    ("Acme L.L.C.", "acme"),
    ("Acme L. L. C.", "acme"),
    ("José's Café", "Joses Cafe"),
    ("Crème Brûlée Bakery", "creme brulee bakery"),
    ("Łódź Pierogi House", "Lodz Pierogi House"),
    ("Søren's Smørrebrød", "Sorens Smorrebrod"),
    ("Müller Heizung & Sanitär", "Muller Heizung and Sanitar"),
    ("Smith-Jones Electric", "Smith Jones Electric"),
    ("Acme: Service Dept", "Acme Service Dept"),
    ("Acme\tHQ", "Acme HQ"),
])
def test_spellings_of_one_business_share_a_key(a, b):
    assert normalize_name(a) == normalize_name(b) != ""


@pytest.mark.parametrize(("a", "b"), [
    ("Acme Plumbing", "Acme Plumbing Supply"),
    ("Smith & Sons", "Smith"),
    ("Acme Group", "Acme"),
    ("北京 Garden Restaurant", "Garden Restaurant"),
])
def test_different_businesses_keep_different_keys(a, b):
    assert normalize_name(a) != normalize_name(b)


@pytest.mark.parametrize(("name", "key"), [
    ("The Company", "the"), ("Inc.", "inc"), ("Co", "co"), ("The", "the"), ("The Inc.", "the"),
    ("北京 Garden Restaurant", "北京 garden restaurant"), ("Привет Market", "привет market"), ("", ""), (None, ""),
    ("!!!", ""),
])
def test_a_name_is_never_reduced_to_nothing(name, key):
    assert normalize_name(name) == key


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_normalize_name_is_idempotent(text):
    once = normalize_name(text)
    assert normalize_name(once) == once
    assert once == once.strip() and "  " not in once


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="abcdeioABCDE &,.'-", min_size=1, max_size=30).filter(lambda s: normalize_name(s)),
       st.sampled_from([" Inc.", " Inc", ", Inc.", " LLC", "  "]))
def test_case_spacing_and_a_legal_suffix_never_change_a_key(text, suffix):
    assert normalize_name(text.upper() + suffix) == normalize_name(text)


@pytest.mark.parametrize(("raw", "want"), [
    ("(480) 555-0123", "4805550123"), ("+1 480.555.0123", "4805550123"), ("1-480-555-0123", "4805550123"),
    ("480-555-0123 x12", "4805550123"), ("480 555 0123 ext. 7", "4805550123"), ("+44 20 7946 0958", "442079460958"),
    ("n/a", ""), ("0", ""), (None, ""), ("", ""),
])
def test_normalize_phone(raw, want):
    assert normalize_phone(raw) == want


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="0123456789 ()-+.x", max_size=20))
def test_normalize_phone_is_idempotent(raw):
    once = normalize_phone(raw)
    assert normalize_phone(once) == once


@pytest.mark.parametrize(("raw", "want"), [
    (" Office@Acme.COM ", "office@acme.com"), ("none", ""), ("@acme.com", ""), ("bob@", ""), (None, ""),
])
def test_normalize_email(raw, want):
    assert normalize_email(raw) == want


def test_address_key_abbreviates_and_ignores_punctuation_and_zip4():
    key = normalize_address_key("123 North Main Street, Suite 100", "85001-1234")
    assert key == normalize_address_key("123 N. Main St Ste 100", "85001") == "123 n main st ste 100|85001"
    assert normalize_address_key("4 Oak Avenue", "85002") == normalize_address_key("4 OAK AVE.", " 85002 ")
    assert normalize_address_key("4 Oak Road", "85002") != normalize_address_key("4 Oak Ave", "85002")


@pytest.mark.parametrize(("line1", "postal"), [(None, "85001"), ("1 Main St", None), ("", ""), ("...", "85001")])
def test_address_key_is_empty_without_both_parts(line1, postal):
    assert normalize_address_key(line1, postal) == ""


# -- DisplayName -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "want", "noted"), [
    ("Acme: Service Dept", "Acme- Service Dept", True),
    ("Acme\tHQ", "Acme HQ", True),
    ("Acme\nAttn: Billing", "Acme Attn- Billing", True),
    ("Acme\u200bPlumbing", "AcmePlumbing", True),
    ("  Acme   Plumbing  ", "Acme Plumbing", False),  # tidying spaces is not worth a note
])
def test_display_name_removes_what_quickbooks_refuses(name, want, noted):
    display, notes = quickbooks_display_name(name, set())
    assert display == want
    assert bool(notes) == noted


def test_a_clean_free_name_is_kept_as_is_without_notes():
    assert quickbooks_display_name("Müller Heizung & Sanitär", set()) == ("Müller Heizung & Sanitär", [])


def test_too_long_names_are_cut_to_the_limit():
    name = "Acme " + " ".join(["Plumbing Heating Cooling"] * 10)
    display, notes = quickbooks_display_name(name, set())
    assert len(display) <= DISPLAY_NAME_MAX == 100
    assert name.startswith(display) and display == display.strip()
    assert name[len(display)] == " "  # cut between words, not inside one
    assert any("Shortened" in n for n in notes)
    long_display, _ = quickbooks_display_name("x" * 700, set(), max_len=DISPLAY_NAME_LIMIT)
    assert len(long_display) == 500


def test_clashes_get_a_number_within_the_limit():
    taken = {display_name_key("Acme Plumbing"), display_name_key("ACME PLUMBING (2)")}
    display, notes = quickbooks_display_name("acme plumbing", taken)
    assert display == "acme plumbing (3)"
    assert any("already used" in n for n in notes)
    long = "y" * 150
    taken = {display_name_key(long[:100])}
    display, _ = quickbooks_display_name(long, taken)
    assert display == "y" * 96 + " (2)" and len(display) == 100


def test_assigning_names_one_after_another_never_repeats_one():
    taken: set[str] = {display_name_key("Main Office")}
    names = []
    for raw in ["Main Office", "main office", "Main: Office", "Main  Office", "MAIN OFFICE"]:
        display, _ = quickbooks_display_name(raw, taken)
        taken.add(display_name_key(display))
        names.append(display)
    assert len({display_name_key(n) for n in names}) == len(names)


def test_emoji_count_as_two_characters():
    display, _ = quickbooks_display_name("😀" * 60, set())
    assert len(display.encode("utf-16-le")) // 2 <= 100 and len(display) == 50


@pytest.mark.parametrize("name", ["", "   ", "\t\n", "\x00\x01"])
def test_nothing_printable_is_an_error(name):
    with pytest.raises(ValueError):
        quickbooks_display_name(name, set())


def test_max_len_must_be_one_quickbooks_allows():
    with pytest.raises(ValueError):
        quickbooks_display_name("Acme", set(), max_len=501)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=140), st.lists(st.text(max_size=40), max_size=5), st.integers(0, 3),
       st.integers(8, 120))
def test_display_names_are_always_acceptable(name, others, copies, max_len):
    taken = {display_name_key(o) for o in others}
    try:
        display, _ = quickbooks_display_name(name, taken, max_len=max_len)
    except ValueError:
        assert not "".join(ch for ch in name if not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf"))
        return
    for _ in range(copies):  # the same name again, as duplicates on the platform would ask for it
        taken.add(display_name_key(display))
        display, _ = quickbooks_display_name(name, taken, max_len=max_len)
    assert not any(ch in display for ch in FORBIDDEN)
    assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in display)
    assert len(display.encode("utf-16-le")) // 2 <= max_len
    assert display == display.strip() and display
    assert display_name_key(display) not in taken
