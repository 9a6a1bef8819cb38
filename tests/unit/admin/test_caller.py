from types import SimpleNamespace

import pytest

from shared.errors import Forbidden, Unauthorized
from shared.http import caller


def _app(claims):
    ctx = SimpleNamespace(authorizer=SimpleNamespace(jwt_claim=claims))
    return SimpleNamespace(current_event=SimpleNamespace(request_context=ctx))


def test_the_tenant_comes_from_the_verified_claims():
    who = caller(_app({"tenant_id": "acme-1", "role": "restricted", "sub": "u1"}))
    assert (who.tenant_id, who.role, who.subject) == ("acme-1", "restricted", "u1")


@pytest.mark.parametrize("tenant", ["a#b", "TENANT#x", "../x", "a b", "x" * 129, "", 7, ["t"]])
def test_a_tenant_id_that_could_break_a_key_is_refused(tenant):
    with pytest.raises((Forbidden, Unauthorized)):
        caller(_app({"tenant_id": tenant, "role": "admin"}))
