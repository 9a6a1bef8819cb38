"""Names, phones, emails and addresses reduced to comparable keys, and platform names made into DisplayNames that
QuickBooks accepts. Rules and sources: docs/matching.md.

QuickBooks limits used here (Intuit API reference, Customer entity, "Business Rules" and attribute table):
- DisplayName at most 500 characters, unique across Customer, Vendor and Employee (compared here case-insensitively,
  the safe assumption);
  DisplayName, GivenName, FamilyName, PrintOnCheckName must not contain ':', tab or newline;
- CompanyName, GivenName and FamilyName at most 100 characters; PrintOnCheckName at most 110 and filled from
  DisplayName when omitted."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container

DISPLAY_NAME_LIMIT = 500
# The default cap is CompanyName's 100, not DisplayName's 500: the platform's company name is sent as both, and a
# DisplayName over 110 could overflow the PrintOnCheckName QuickBooks derives from it.
DISPLAY_NAME_MAX = 100

# Letters that NFKD leaves whole, so accent stripping alone would keep "Łódź" apart from "Lodz".
_LETTERS = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ı": "i", "ŀ": "l", "æ": "ae", "œ": "oe",
                          "þ": "th", "ð": "d"})
# Removed without leaving a gap, so "O'Neil's" equals "ONeils" and "L.L.C." equals "LLC".
_DROP_JOINERS = str.maketrans("", "", "'’‘ʼ`´.")
_ASCII_GAPS = re.compile(r"[^a-z0-9]+")
_LEGAL_SUFFIXES = sorted(
    [tuple(s.split()) for s in ("inc", "incorporated", "llc", "l l c", "ltd", "limited", "co", "corp",
                                "corporation", "company", "plc", "lp", "l p", "llp", "l l p", "pc", "p c",
                                "and co", "and company")],
    key=len, reverse=True)
_SUFFIX_ENDS = frozenset(s[-1] for s in _LEGAL_SUFFIXES)
_EXTENSION = re.compile(r"\s*(?:x|ext\.?|extension)\s*\d+\s*$", re.IGNORECASE)
_MIN_PHONE_DIGITS = 7  # shorter than a local number: a placeholder like "0" or "n/a", not evidence
_STREET_WORDS = {"street": "st", "avenue": "ave", "av": "ave", "road": "rd", "suite": "ste", "boulevard": "blvd",
                 "drive": "dr", "lane": "ln", "court": "ct", "place": "pl", "highway": "hwy", "parkway": "pkwy",
                 "circle": "cir", "terrace": "ter", "apartment": "apt", "building": "bldg", "north": "n",
                 "south": "s", "east": "e", "west": "w", "northeast": "ne", "northwest": "nw", "southeast": "se",
                 "southwest": "sw"}
_FORBIDDEN_NOTE = "Replaced ':' with '-' (QuickBooks does not allow ':' in names)"
_BREAKS_NOTE = "Replaced tabs and line breaks with spaces (QuickBooks does not allow them in names)"
_CONTROL_NOTE = "Removed invisible control characters"


def _fold(text: str) -> str:
    """Accents stripped and case folded, repeated until stable: casefolding can produce combining marks ('İ')."""
    if text.isascii():
        return text.lower()
    while True:
        decomposed = unicodedata.normalize("NFKD", text)
        folded = "".join(ch for ch in decomposed if unicodedata.category(ch)[0] != "M").casefold().translate(_LETTERS)
        if folded == text:
            return folded
        text = folded


def _words(text: str) -> list[str]:
    """Folded text split into words of letters and digits; every other character separates words."""
    folded = _fold(text).replace("&", " and ").translate(_DROP_JOINERS)
    if folded.isascii():
        return _ASCII_GAPS.sub(" ", folded).split()
    return "".join(ch if unicodedata.category(ch)[0] in "LN" else " " for ch in folded).split()


def _drop_legal_suffixes_and_the(words: list[str]) -> list[str]:
    # Suffixes before "the", so "The Inc" stays "the" like "The" does: adding a suffix never changes a key.
    while len(words) > 1 and words[-1] in _SUFFIX_ENDS:
        suffix = next((x for x in _LEGAL_SUFFIXES if len(words) > len(x) and tuple(words[-len(x):]) == x), None)
        if suffix is None:
            break
        words = words[:-len(suffix)]
    while len(words) > 1 and words[0] == "the":
        words = words[1:]
    return words


def normalize_name(name: str | None) -> str:
    """The key two spellings of one business share: accents stripped, case folded, '&' read as 'and', punctuation
    dropped, spaces collapsed, a leading 'the' and trailing legal suffixes (Inc, LLC, Co, ...) removed. A name is never
    reduced to nothing: "The Company" keeps "the"."""
    if not name:
        return ""
    return " ".join(_drop_legal_suffixes_and_the(_words(name)))


def normalize_phone(phone: str | None) -> str:
    """Digits only, an extension ("x12", "ext. 12") dropped, the US country code dropped from 11 digits; "" when
    too short to tell anyone apart."""
    if not phone:
        return ""
    digits = "".join(str(unicodedata.decimal(ch)) for ch in _EXTENSION.sub("", phone) if ch.isdecimal())
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return digits if len(digits) >= _MIN_PHONE_DIGITS else ""


def normalize_email(email: str | None) -> str:
    """Trimmed and case folded; "" unless it looks like an address (placeholders such as "none" are not evidence)."""
    if not email:
        return ""
    folded = email.strip().casefold()
    local, at, domain = folded.partition("@")
    return folded if at and local and domain else ""


def normalize_address_key(line1: str | None, postal_code: str | None) -> str:
    """Street line and postal code as one key ("123 n main st|85001"); "" unless both are present, so a missing
    postal code never looks like a different address. Common street words are abbreviated, ZIP+4 cut to 5 digits."""
    words = [_STREET_WORDS.get(w, w) for w in _words(line1 or "")]
    postal = "".join(ch for ch in _fold(postal_code or "") if ch.isalnum())
    if len(postal) == 9 and postal.isdigit():
        postal = postal[:5]
    if not words or not postal:
        return ""
    return f"{' '.join(words)}|{postal}"


def display_name_key(name: str) -> str:
    """How QuickBooks compares DisplayNames for uniqueness: case-insensitively, here also ignoring repeated spaces.
    `quickbooks_display_name`'s `taken` holds these keys."""
    return " ".join(name.split()).casefold()


def _utf16_len(text: str) -> int:
    # QuickBooks counts characters as Java does (UTF-16 units): an emoji is two.
    return len(text.encode("utf-16-le")) // 2


def _fit(text: str, limit: int) -> str:
    """`text` cut to `limit`, at a word boundary when one falls in the second half."""
    if _utf16_len(text) <= limit:
        return text
    cut = text[:limit]
    while _utf16_len(cut) > limit:
        cut = cut[:-1]
    if not text[len(cut)].isspace() and cut.rfind(" ") > limit // 2:
        cut = cut[:cut.rfind(" ")]
    return cut.rstrip()


def quickbooks_display_name(name: str, taken: Container[str], max_len: int = DISPLAY_NAME_MAX) -> tuple[str, list[str]]:
    """A DisplayName QuickBooks accepts for `name`, and the adjustments made, in words an admin understands.

    ':' becomes '-'; tabs, line breaks and runs of spaces become one space; control characters go; the result is
    trimmed and cut to `max_len` characters (between words when one ends near the limit). If it clashes with a name
    in `taken` (keys made by `display_name_key` from every customer, vendor and employee DisplayName, inactive ones
    included) " (2)", " (3)", ... is appended, shortening the name so the whole still fits. The caller adds the
    returned name's key to `taken` before the next call. Raises ValueError when nothing printable is left."""
    if not 8 <= max_len <= DISPLAY_NAME_LIMIT:
        raise ValueError(f"max_len must be between 8 and {DISPLAY_NAME_LIMIT}")
    notes: list[str] = []
    text = unicodedata.normalize("NFC", name)
    if ":" in text:
        text = text.replace(":", "-")
        notes.append(_FORBIDDEN_NOTE)
    if any(ch.isspace() and ch != " " for ch in text):
        notes.append(_BREAKS_NOTE)
    visible = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf"))
    if visible != text:
        notes.append(_CONTROL_NOTE)
    text = " ".join(visible.split())
    if not text:
        raise ValueError("the name is empty once characters QuickBooks refuses are removed")
    fitted = _fit(text, max_len)
    if fitted != text:
        notes.append(f"Shortened to fit the {max_len}-character limit QuickBooks has for names")
    candidate, n = fitted, 1
    while display_name_key(candidate) in taken:
        n += 1
        suffix = f" ({n})"
        candidate = (_fit(fitted, max_len - len(suffix)) + suffix).lstrip()
    if n > 1:
        notes.append(f"Added '({n})' because '{fitted}' is already used by a customer, vendor or employee in "
                     f"QuickBooks")
    return candidate, notes
