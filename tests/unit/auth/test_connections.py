import pytest

from shared.domain.connections import Caller, ConnectionService, StateSigner, Status
from shared.errors import BadRequest, Conflict, Forbidden, NotConnected
from tests.fakes import FakeConnections, FakeOAuth, FakeSchedules, FakeTokenStore


class Clock:
    t = 2_000_000.0

    def __call__(self):
        return self.t


@pytest.fixture
def env():
    clock = Clock()
    repo, tokens, oauth, schedules = FakeConnections(), FakeTokenStore(), FakeOAuth(clock), FakeSchedules()
    service = ConnectionService(repo, tokens, oauth, schedules, StateSigner(b"k" * 32, clock),
                                read_company=lambda realm, token: f"Company {realm}", clock=clock)
    return service, repo, tokens, oauth, schedules, clock


def _state(url):
    return url.split("state=")[1]


def test_connect_then_callback_stores_connection_and_tokens(env):
    service, repo, tokens, *_ = env
    state = _state(service.start_connect(Caller("t1", "admin")))
    conn = service.complete_connect("code1", state, "realm1")
    assert conn.status == Status.CONNECTED and conn.company_name == "Company realm1"
    assert tokens.load("t1").realm_id == "realm1"


def test_restricted_admin_cannot_connect_or_disconnect(env):
    service, *_ = env
    with pytest.raises(Forbidden):
        service.start_connect(Caller("t1", "restricted"))
    with pytest.raises(Forbidden):
        service.disconnect(Caller("t1", "restricted"))


def test_state_is_single_use(env):
    service, repo, tokens, oauth, *_ = env
    state = _state(service.start_connect(Caller("t1", "admin")))
    service.complete_connect("code1", state, "realm1")
    with pytest.raises(BadRequest, match="already used"):
        service.complete_connect("code2", state, "realm1")
    assert oauth.exchanged == ["code1"]


def test_forged_state_is_refused_and_nothing_stored(env):
    service, repo, tokens, oauth, *_ = env
    state = _state(service.start_connect(Caller("t1", "admin")))
    nonce, tenant, expires, sig = state.split(".")
    forged = ".".join([nonce, "dDI", expires, sig])  # tenant t2, same signature
    with pytest.raises(BadRequest):
        service.complete_connect("code1", forged, "realm1")
    assert oauth.exchanged == [] and repo.items == {} and tokens.items == {}


def test_expired_state_is_refused(env):
    service, repo, tokens, oauth, schedules, clock = env
    state = _state(service.start_connect(Caller("t1", "admin")))
    clock.t += 601
    with pytest.raises(BadRequest, match="expired"):
        service.complete_connect("code1", state, "realm1")
    assert oauth.exchanged == []


def test_company_connected_to_another_tenant_is_refused_and_new_grant_revoked(env):
    service, repo, tokens, oauth, *_ = env
    service.complete_connect("c1", _state(service.start_connect(Caller("t1", "admin"))), "realm1")
    with pytest.raises(Conflict, match="another account"):
        service.complete_connect("c2", _state(service.start_connect(Caller("t2", "admin"))), "realm1")
    assert "t2" not in repo.items and tokens.load("t2") is None
    assert oauth.revoked == ["r0"]


def test_reconnecting_to_a_different_company_is_refused(env):
    service, repo, *_ = env
    service.complete_connect("c1", _state(service.start_connect(Caller("t1", "admin"))), "realm1")
    with pytest.raises(Conflict, match="linked to the QuickBooks company"):
        service.complete_connect("c2", _state(service.start_connect(Caller("t1", "admin"))), "realm2")
    assert repo.items["t1"].realm_id == "realm1"


def test_disconnect_revokes_deletes_tokens_and_schedule_keeps_connection_record(env):
    service, repo, tokens, oauth, schedules, _ = env
    service.complete_connect("c1", _state(service.start_connect(Caller("t1", "admin"))), "realm1")
    conn = service.disconnect(Caller("t1", "admin"))
    assert conn.status == Status.DISCONNECTED and conn.realm_id == "realm1"
    assert tokens.load("t1") is None and oauth.revoked == ["r0"] and schedules.deleted == ["t1"]
    with pytest.raises(NotConnected):
        service.disconnect(Caller("t1", "admin"))
    again = service.complete_connect("c3", _state(service.start_connect(Caller("t1", "admin"))), "realm1")
    assert again.status == Status.CONNECTED


def test_grant_lost_pauses_schedule_and_asks_for_reconnect(env):
    service, repo, tokens, oauth, schedules, _ = env
    service.complete_connect("c1", _state(service.start_connect(Caller("t1", "admin"))), "realm1")
    service.grant_lost("t1", "invalid_grant")
    conn = repo.items["t1"]
    assert conn.status == Status.NEEDS_RECONNECT and schedules.paused == ["t1"]
    assert conn.attention[0]["kind"] == "reconnect"
