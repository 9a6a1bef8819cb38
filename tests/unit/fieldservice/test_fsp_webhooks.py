import hashlib
import hmac
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.fieldservice import webhooks
from shared.fieldservice.webhooks import (
    InvalidPayload,
    InvalidSignature,
    MalformedSignature,
    StaleTimestamp,
    construct_event,
    signature_header,
    verify,
)

SECRET = "whsec_test"
NOW = 1_790_000_000
BODY = json.dumps({"id": "evt_1", "type": "client.updated", "tenant_id": "t1", "created_at": "2026-01-01T00:00:00Z",
                   "data": {"object": {"id": "cli_1"}}}).encode()


def test_known_vector():
    # The signed string is "<t>." followed by the raw body, exactly.
    expected = hmac.new(SECRET.encode(), b"1790000000.{}", hashlib.sha256).hexdigest()
    assert webhooks.sign(SECRET, b"{}", NOW) == expected


def test_round_trip_returns_the_signed_timestamp():
    header = signature_header(SECRET, BODY, NOW)
    assert verify(SECRET, BODY, header, now=NOW + 10) == NOW
    event = construct_event(SECRET, BODY, header, now=NOW)
    assert (event.type, event.entity, event.action, event.object["id"]) == ("client.updated", "client", "updated",
                                                                             "cli_1")


def test_forged_signature_is_rejected():
    header = signature_header("someone-else", BODY, NOW)
    with pytest.raises(InvalidSignature):
        verify(SECRET, BODY, header, now=NOW)


def test_stale_and_future_timestamps_are_rejected():
    header = signature_header(SECRET, BODY, NOW)
    with pytest.raises(StaleTimestamp):
        verify(SECRET, BODY, header, now=NOW + 301)
    with pytest.raises(StaleTimestamp):
        verify(SECRET, BODY, header, now=NOW - 301)
    assert verify(SECRET, BODY, header, now=NOW + 300) == NOW


def test_a_replay_inside_the_window_verifies_so_receivers_must_dedupe_on_the_event_id():
    header = signature_header(SECRET, BODY, NOW)
    assert verify(SECRET, BODY, header, now=NOW + 5) == verify(SECRET, BODY, header, now=NOW + 6)


def test_re_signing_an_old_timestamp_with_a_new_one_fails():
    old = signature_header(SECRET, BODY, NOW)
    moved = old.replace(f"t={NOW}", f"t={NOW + 1000}")
    with pytest.raises(InvalidSignature):
        verify(SECRET, BODY, moved, now=NOW + 1000)


@pytest.mark.parametrize("header", [None, "", "v1=abc", f"t={NOW}", "t=soon,v1=abc", "garbage"])
def test_malformed_headers(header):
    with pytest.raises(MalformedSignature):
        verify(SECRET, BODY, header, now=NOW)


def test_rotation_accepts_any_current_secret_and_any_listed_signature():
    header = signature_header("new", BODY, NOW) + ",v1=" + "0" * 64
    assert verify(["old", "new"], BODY, header, now=NOW) == NOW
    with pytest.raises(InvalidSignature):
        verify(["old"], BODY, header, now=NOW)


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"id": "e", "type": "client.updated"}',
                                  BODY.replace(b"client.updated", b"client.exploded")])
def test_invalid_payloads(body):
    with pytest.raises(InvalidPayload):
        webhooks.parse_event(body)


@given(body=st.binary(min_size=0, max_size=300), secret=st.text(min_size=1, max_size=40),
       ts=st.integers(min_value=0, max_value=2**40))
def test_sign_verify_round_trip(body, secret, ts):
    assert verify(secret, body, signature_header(secret, body, ts), now=ts) == ts


@given(body=st.binary(min_size=1, max_size=300), index=st.integers(min_value=0), flip=st.integers(1, 255))
def test_any_tampered_byte_is_rejected(body, index, flip):
    header = signature_header(SECRET, body, NOW)
    tampered = bytearray(body)
    tampered[index % len(body)] ^= flip
    with pytest.raises(InvalidSignature):
        verify(SECRET, bytes(tampered), header, now=NOW)
