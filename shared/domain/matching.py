"""Which QuickBooks top-level customers and platform clients are the same business: deterministic, one-to-one and
explainable (every match says which details agreed). Rules: docs/matching.md.

1. Candidates share a name key: `normalize_name` of the company (else "first last") or of the display name.
2. Evidence for a candidate pair: "name", plus each of "email", "phone", "address" present on both sides and equal
   after normalization. Those three corroborate; when every one present on both sides differs, they contradict.
3. A pair is eligible with at least one corroborating detail, or with none when the two are each other's only
   candidate (no other record on either side shares either's name keys) and nothing contradicts.
4. A pair matches when each is the other's single best eligible candidate (strictly more corroboration than any
   other). Nothing else matches: a tie is never broken by order, activity or id.
5. What is left and still shares a name key across the sides is a Conflict for an admin to settle ("ambiguous", or
   "contradicting_details" for a lone pair whose details all differ); everything else is unmatched, to be created
   on the other side. Activity is not evidence: a customer made inactive is still the same business.

The result depends only on the set of inputs (sorted throughout), and swapping the sides swaps the result."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from shared.domain.names import normalize_email, normalize_name, normalize_phone

AMBIGUOUS = "ambiguous"
CONTRADICTING_DETAILS = "contradicting_details"
_DETAILS = ("email", "phone", "address")


@dataclass(frozen=True)
class Party:
    """One side's record as matching sees it; the caller converts QuickBooks customers and platform clients."""

    id: str
    name: str  # QuickBooks DisplayName, or the platform's display name
    company: str | None = None
    first: str | None = None
    last: str | None = None
    email: str | None = None
    phone: str | None = None
    address_key: str = ""  # names.normalize_address_key of the billing address
    active: bool = True


@dataclass(frozen=True)
class Match:
    qbo_id: str
    fsp_id: str
    evidence: tuple[str, ...]  # "name" first, then the details that agreed, in the order email, phone, address


@dataclass(frozen=True)
class Conflict:
    kind: str
    qbo_ids: tuple[str, ...]
    fsp_ids: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class MatchResult:
    matches: list[Match]
    conflicts: list[Conflict]
    unmatched_qbo: list[str]
    unmatched_fsp: list[str]


def _id_order(value: str) -> tuple[int, int, str]:
    # QuickBooks ids are numbers in strings: "9" sorts before "10".
    return (0, int(value), value) if value.isdigit() else (1, 0, value)


def _sorted(ids: Iterable[str]) -> list[str]:
    return sorted(ids, key=_id_order)


def _name_keys(party: Party) -> frozenset[str]:
    primary = party.company if party.company and party.company.strip() else \
        " ".join(p for p in (party.first, party.last) if p)
    return frozenset(k for k in (normalize_name(primary), normalize_name(party.name)) if k)


def sharing_a_name(qbo: Iterable[Party], fsp: Iterable[Party]) -> list[Party]:
    """The QuickBooks parties that share a name key with some platform party: candidates are found by name keys
    only (rule 1) and conflicts group records across the sides (rule 5), so no other QuickBooks party can change
    what `match_parties` says about these platform parties."""
    keys = frozenset().union(*(_name_keys(p) for p in fsp))
    return [p for p in qbo if _name_keys(p) & keys]


def _details(party: Party) -> dict[str, str]:
    return {"email": normalize_email(party.email), "phone": normalize_phone(party.phone),
            "address": (party.address_key or "").strip()}


def _compare(a: dict[str, str], b: dict[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(details that agree, details present on both sides that differ)."""
    both = [d for d in _DETAILS if a[d] and b[d]]
    return tuple(d for d in both if a[d] == b[d]), tuple(d for d in both if a[d] != b[d])


class _Sides:
    """Name keys, normalized details and candidates of both sides, side 0 QuickBooks and side 1 the platform."""

    def __init__(self, qbo: Iterable[Party], fsp: Iterable[Party]):
        self.parties: tuple[dict[str, Party], dict[str, Party]] = ({}, {})
        for side, parties in enumerate((qbo, fsp)):
            for party in parties:
                if party.id in self.parties[side]:
                    raise ValueError(f"party id {party.id!r} appears twice on one side")
                self.parties[side][party.id] = party
        self.details = tuple({pid: _details(p) for pid, p in side.items()} for side in self.parties)
        self.holders: dict[str, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))  # key -> ids
        for side in (0, 1):
            for pid, party in self.parties[side].items():
                for key in _name_keys(party):
                    self.holders[key][side].add(pid)
        self.candidates: tuple[dict[str, set[str]], dict[str, set[str]]] = (defaultdict(set), defaultdict(set))
        for q_ids, f_ids in self.holders.values():
            for q in q_ids:
                self.candidates[0][q] |= f_ids
            for f in f_ids:
                self.candidates[1][f] |= q_ids


def _best(options: dict[str, int]) -> str | None:
    """The single option with the highest score, or None on a tie or when there is none."""
    if not options:
        return None
    top = max(options.values())
    winners = [k for k, v in options.items() if v == top]
    return winners[0] if len(winners) == 1 else None


def match_parties(qbo: Iterable[Party], fsp: Iterable[Party]) -> MatchResult:
    """Match QuickBooks top-level customers (`qbo`) to platform clients (`fsp`); ids must be unique per side.
    Every id ends up in exactly one of: a match, a conflict, the unmatched list of its side."""
    s = _Sides(qbo, fsp)
    eligible: dict[tuple[str, str], tuple[str, ...]] = {}  # (qbo id, fsp id) -> details that agreed
    contradicted: set[tuple[str, str]] = set()
    score: tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]] = (defaultdict(dict), defaultdict(dict))
    for q, f_ids in s.candidates[0].items():
        for f in f_ids:
            agreed, differ = _compare(s.details[0][q], s.details[1][f])
            alone = s.candidates[0][q] == {f} and s.candidates[1][f] == {q}
            if differ and not agreed:
                contradicted.add((q, f))
            if agreed or (alone and (q, f) not in contradicted):
                eligible[(q, f)] = agreed
                score[0][q][f] = score[1][f][q] = len(agreed)

    matches = []
    for q, options in score[0].items():
        best = _best(options)
        if best is not None and _best(score[1][best]) == q:
            matches.append(Match(q, best, ("name", *eligible[(q, best)])))
    matches.sort(key=lambda m: (_id_order(m.qbo_id), _id_order(m.fsp_id)))

    matched = ({m.qbo_id for m in matches}, {m.fsp_id for m in matches})
    conflicts, left = _conflicts(s, matched, contradicted, set(eligible))
    return MatchResult(matches, conflicts, _sorted(left[0]), _sorted(left[1]))


def _conflicts(s: _Sides, matched: tuple[set[str], set[str]], contradicted: set[tuple[str, str]],
               eligible: set[tuple[str, str]]) -> tuple[list[Conflict], tuple[set[str], set[str]]]:
    """Group what is left by shared name keys; a group with records on both sides is a conflict."""
    parent: dict[tuple[int, str], tuple[int, str]] = {}

    def root(node: tuple[int, str]) -> tuple[int, str]:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    left = ({pid for pid in s.parties[0] if pid not in matched[0]},
            {pid for pid in s.parties[1] if pid not in matched[1]})
    for key in sorted(s.holders):
        members = [(side, pid) for side in (0, 1) for pid in s.holders[key][side] if pid in left[side]]
        if any(side == 0 for side, _ in members) and any(side == 1 for side, _ in members):
            first = root(min(members))
            for node in members:
                parent[root(node)] = first
    groups: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
    for node in list(parent):
        groups[root(node)].append(node)

    conflicts = []
    for members in groups.values():
        q_ids = tuple(_sorted(pid for side, pid in members if side == 0))
        f_ids = tuple(_sorted(pid for side, pid in members if side == 1))
        left[0].difference_update(q_ids)
        left[1].difference_update(f_ids)
        conflicts.append(_explain(s, q_ids, f_ids, contradicted, eligible))
    conflicts.sort(key=lambda c: ([_id_order(i) for i in c.qbo_ids], [_id_order(i) for i in c.fsp_ids]))
    return conflicts, left


def _explain(s: _Sides, q_ids: tuple[str, ...], f_ids: tuple[str, ...], contradicted: set[tuple[str, str]],
             eligible: set[tuple[str, str]]) -> Conflict:
    q_name, f_name = s.parties[0][q_ids[0]].name.strip(), s.parties[1][f_ids[0]].name.strip()
    if len(q_ids) == len(f_ids) == 1 and (q_ids[0], f_ids[0]) in contradicted:
        _, differ = _compare(s.details[0][q_ids[0]], s.details[1][f_ids[0]])
        return Conflict(CONTRADICTING_DETAILS, q_ids, f_ids,
                        f"QuickBooks customer '{q_name}' and platform client '{f_name}' have the same name but a "
                        f"different {' and '.join(differ)}. If they are the same business, link them by hand; if "
                        f"not, make the names differ, then sync again.")
    who = f"{_count(len(q_ids), 'QuickBooks customer')} and {_count(len(f_ids), 'platform client')}"
    if any((q, f) in eligible for q in q_ids for f in f_ids):
        why = "the email, phone and address do not single out one pair"
    else:
        why = "nothing besides the name (email, phone, address) shows which belongs with which"
    return Conflict(AMBIGUOUS, q_ids, f_ids,
                    f"{who} share the name '{q_name}' and {why}. Link the right ones by hand, or make the names "
                    f"differ, then sync again.")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
