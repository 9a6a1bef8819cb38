"""The Web Connector callbacks' answers (qbd-facts.md "Callbacks"), with DynamoDB in-process and a fake drain."""

from pathlib import Path

import pytest

from shared.qbdesktop import passwords

CAPTURED = Path(__file__).resolve().parents[2] / "fixtures" / "qbd" / "qbxml" / "captured"
HCP = (CAPTURED / "qbwc-gem-strHCPResponse-host-company-preferences.xml").read_text()
CAPTURED_FILE_ID = "{00000ee-1111-ffff-cccc-5ff123456047}"


class FakeDrain:
    def __init__(self, queue):
        self.queue = queue
        self.settled = []

    def remaining(self):
        return len(self.queue)

    def request_sync(self, run_id):
        pass

    def next_request(self, ticket):
        return None

    def settle_runs(self, done):
        self.settled.append(done)


@pytest.fixture
def service(aws_tables):
    from shared.data.desktop_repo import DesktopRepo
    from shared.data.repos import RunRepo
    from shared.qbdesktop.service import WebConnectorService

    repo = DesktopRepo()
    repo.create_connection("t1", "qbuser", "{OWNER}", CAPTURED_FILE_ID, passwords.hash_password("right"))
    drains = {"t1": FakeDrain(["work"])}
    return WebConnectorService(repo, RunRepo(), drains.__getitem__), repo, drains


def test_a_wrong_password_or_unknown_user_is_nvu_with_a_fresh_ticket(service):
    svc, _, _ = service
    first, second = svc.authenticate("qbuser", "wrong"), svc.authenticate("nobody", "right")
    assert first[1] == second[1] == "nvu" and first[0] != second[0]


def test_work_to_do_opens_a_session_and_a_second_session_meanwhile_is_busy(service):
    svc, repo, _ = service
    ticket, answer = svc.authenticate("qbuser", "right")
    assert answer == "" and repo.session(ticket).tenant_id == "t1"
    assert svc.authenticate("qbuser", "right")[1] == "busy"
    assert svc.closeConnection(ticket).startswith("OK")
    assert svc.authenticate("qbuser", "right")[1] == ""  # the lease was released


def test_nothing_to_do_before_onboarding_is_none(service):
    svc, _, drains = service
    drains["t1"].queue.clear()
    assert svc.authenticate("qbuser", "right")[1] == "none"
    assert svc.authenticate("qbuser", "right")[1] == "none"  # no lease left behind


def test_the_first_send_checks_the_company_file_edition_and_version(service):
    svc, repo, _ = service
    ticket, _ = svc.authenticate("qbuser", "right")
    assert svc.sendRequestXML(ticket, HCP, "C:\\a.QBW", "CA", 13, 0) == ""
    assert "US edition" in svc.getLastError(ticket)
    assert svc.sendRequestXML(ticket, HCP, "C:\\a.QBW", "US", 12, 0) == ""
    assert "qbXML 13.0" in svc.getLastError(ticket)
    assert svc.sendRequestXML(ticket, HCP, "C:\\a.QBW", "US", 13, 0) == ""  # right file; the fake has no work
    assert svc.getLastError(ticket) == "Nothing more to synchronize."


def test_another_company_file_is_refused(service):
    svc, repo, _ = service
    repo.update_connection("t1", file_id="{OTHER-FILE}")
    ticket, _ = svc.authenticate("qbuser", "right")
    assert svc.sendRequestXML(ticket, HCP, "C:\\a.QBW", "US", 13, 0) == ""
    assert "not the one this connection was set up with" in svc.getLastError(ticket)
    assert "not the one" in repo.connection("t1").last_error


def test_unknown_tickets_get_nothing(service):
    svc, _, _ = service
    assert svc.sendRequestXML("nope", "", "", "US", 13, 0) == ""
    assert svc.receiveResponseXML("nope", "<QBXML/>", "", "") == -101
    assert svc.getLastError("nope") == "Unknown ticket."
    assert svc.closeConnection("nope") == "OK"


def test_connection_errors_end_the_session_and_are_kept(service):
    svc, repo, _ = service
    ticket, _ = svc.authenticate("qbuser", "right")
    assert svc.connectionError(ticket, "0x80040408", "Could not start QuickBooks.") == "done"
    assert "Could not start QuickBooks. (0x80040408)" in repo.connection("t1").last_error


def test_old_web_connectors_get_a_warning_not_a_refusal(service):
    svc, _, _ = service
    assert svc.clientVersion("2.3.0.215") == "" and svc.clientVersion("1.5.0.1").startswith("W:")
    assert svc.serverVersion().startswith("qbsync")
