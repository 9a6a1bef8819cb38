import threading

import pytest

from shared.errors import NeedsReconnect, NotConnected
from shared.quickbooks.tokens import TokenService, TokenSet
from tests.fakes import FakeOAuth, FakeTokenStore


class Clock:
    def __init__(self, t=1_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def clock():
    return Clock()


def make(clock, lost=None):
    store, oauth = FakeTokenStore(), FakeOAuth(clock)
    service = TokenService(store, oauth, on_grant_lost=lambda t, r: (lost if lost is not None else []).append((t, r)),
                           clock=clock, sleep=lambda s: None, wait_s=5)
    return store, oauth, service


def test_fresh_token_is_used_without_refresh(clock):
    store, oauth, service = make(clock)
    store.put_new("t1", "realm1", TokenSet("a0", "r0", clock() + 3600))
    assert service.access("t1") == ("a0", "realm1")
    assert oauth.refreshes == 0


def test_token_near_expiry_is_refreshed_and_rotated_refresh_token_kept(clock):
    store, oauth, service = make(clock)
    store.put_new("t1", "realm1", TokenSet("a0", "r0", clock() + 100, clock() + 9_000_000))
    assert service.access("t1") == ("a1", "realm1")
    stored = store.load("t1")
    assert stored.tokens.refresh_token == "r1"
    assert stored.tokens.refresh_expires_at == clock() + 9_000_000
    assert stored.lease_owner is None and stored.generation == 1


def test_fifty_concurrent_users_at_expiry_cause_one_refresh(clock):
    store, oauth, service = make(clock)
    store.put_new("t1", "realm1", TokenSet("a0", "r0", clock() - 1))
    results, barrier = [], threading.Barrier(50)

    def use():
        barrier.wait()
        results.append(service.access("t1"))

    threads = [threading.Thread(target=use) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert oauth.refreshes == 1
    assert results == [("a1", "realm1")] * 50


def test_invalid_grant_marks_connection_and_raises(clock):
    lost = []
    store, oauth, service = make(clock, lost)
    store.put_new("t1", "realm1", TokenSet("a0", "retired", clock() - 1))
    with pytest.raises(NeedsReconnect):
        service.access("t1")
    assert lost == [("t1", "invalid_grant")]
    assert store.load("t1").lease_owner is None


def test_unknown_tenant_is_not_connected(clock):
    _, _, service = make(clock)
    with pytest.raises(NotConnected):
        service.access("nobody")


def test_token_set_repr_hides_tokens():
    assert "secret-access" not in repr(TokenSet("secret-access", "secret-refresh", 1.0))
