import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.quickbooks.webhooks import InvalidPayload, InvalidSignature, parse, verify_signature

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "qbo"
VECTORS = json.loads((FIXTURES / "webhook-signature-vectors.json").read_text())["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["source"][:40])
def test_intuit_signature_vectors(vector):
    body = (FIXTURES / vector["bodyFile"]).read_bytes()
    assert body == vector["body"].encode()
    if vector["expectValid"]:
        verify_signature(vector["verifierToken"], body, vector["intuitSignature"])
    else:
        with pytest.raises(InvalidSignature):
            verify_signature(vector["verifierToken"], body, vector["intuitSignature"])


@given(st.binary(min_size=1), st.integers(min_value=0, max_value=200))
def test_any_tampering_is_rejected(extra, position):
    vector = VECTORS[0]
    body = vector["body"].encode()
    i = position % len(body)
    tampered = body[:i] + extra + body[i:]
    with pytest.raises(InvalidSignature):
        verify_signature(vector["verifierToken"], tampered, vector["intuitSignature"])


def test_missing_signature_is_rejected():
    with pytest.raises(InvalidSignature):
        verify_signature("t", b"{}", None)


def test_parse_classic_fixture():
    hints = parse((FIXTURES / "webhook-classic.json").read_bytes())
    assert [(h.account, h.entity, h.entity_id, h.operation) for h in hints] == [
        ("1269959970", "Vendor", "40", "Update"), ("1269959970", "Customer", "43", "Create")]
    assert len({h.dedupe_key() for h in hints}) == 2


def test_parse_cloudevents_fixture():
    (hint,) = parse((FIXTURES / "webhook-cloudevents.json").read_bytes())
    assert (hint.account, hint.entity, hint.entity_id, hint.operation) == ("310687", "Class", "1234", "Create")
    assert hint.event_id == "d1a3aedd-9670-41bf-a4f9-c148a1cc4e03"


def test_same_delivery_twice_has_same_dedupe_key():
    body = (FIXTURES / "webhook-classic.json").read_bytes()
    assert [h.dedupe_key() for h in parse(body)] == [h.dedupe_key() for h in parse(body)]


@pytest.mark.parametrize("body", [b"not json", b"{}", b'[{"id": "x"}]', b'{"eventNotifications": [{}]}'])
def test_malformed_payloads(body):
    with pytest.raises(InvalidPayload):
        parse(body)
