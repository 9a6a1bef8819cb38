import pytest

from shared.domain.pages import decode_cursor, decode_id, encode_cursor, encode_id
from shared.errors import BadRequest


def test_a_cursor_round_trips_and_is_opaque():
    key = {"pk": {"S": "TENANT#t1"}, "sk": {"S": "ERR#invoice#i 1/2"}}
    cursor = encode_cursor(key)
    assert "TENANT" not in cursor and "#" not in cursor
    assert decode_cursor(cursor, "TENANT#t1", "ERR#") == key


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGpzb24", encode_cursor({"pk": {"S": "TENANT#t2"},
                                                                         "sk": {"S": "ERR#x"}}),
                                    encode_cursor({"pk": {"S": "TENANT#t1"}, "sk": {"S": "RUN#x"}}),
                                    encode_cursor({"pk": {"S": "TENANT#t1"}, "sk": {"N": "1"}}), "x" * 2000])
def test_a_foreign_or_forged_cursor_is_a_400(cursor):
    with pytest.raises(BadRequest):
        decode_cursor(cursor, "TENANT#t1", "ERR#")


def test_ids_are_url_safe_and_round_trip():
    value = encode_id("invoice", "a#b/c d")
    assert value.replace("-", "").replace("_", "").isalnum()
    assert decode_id(value, 2) == ("invoice", "a#b/c d")
    assert decode_id(value, 3) is None and decode_id("!!", 2) is None
