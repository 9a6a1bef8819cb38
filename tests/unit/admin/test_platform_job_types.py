from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.admin import AdminService
from shared.domain.connections import Caller
from shared.errors import BadRequest, NotFound
from tests.fakes import FakePlatform


@pytest.fixture
def platform():
    ticks = iter(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n) for n in range(100))
    fake = FakePlatform(lambda: next(ticks))
    fake.add_job_type("t1", "jt_1", "Repair")
    fake.add_job_type("t1", "jt_2", "Install", active=False)
    fake.add_job_type("t1", "jt_3", "Maintenance")
    fake.add_job_type("t2", "jt_9", "Other tenant's")
    return fake


def _service(platform):
    return AdminService(None, None, None, None, None, None, None, None, platform=lambda: platform)


def test_job_types_are_the_tenants_own_paged_with_the_platforms_cursor(platform):
    service = _service(platform)
    first = service.platform_job_types(Caller("t1", "restricted"), limit=2)
    assert first["items"] == [{"id": "jt_1", "name": "Repair", "active": True},
                              {"id": "jt_2", "name": "Install", "active": False}]
    rest = service.platform_job_types(Caller("t1", "restricted"), first["next_cursor"], limit=2)
    assert rest == {"items": [{"id": "jt_3", "name": "Maintenance", "active": True}], "next_cursor": None}
    assert [j["id"] for j in service.platform_job_types(Caller("t2", "admin"))["items"]] == ["jt_9"]


def test_a_cursor_the_platform_refuses_is_a_400(platform):
    with pytest.raises(BadRequest):
        _service(platform).platform_job_types(Caller("t1", "admin"), "forged")


def test_without_a_platform_the_list_is_not_found():
    with pytest.raises(NotFound):
        AdminService(None, None, None, None, None, None, None, None).platform_job_types(Caller("t1", "admin"))


def test_a_refusal_without_a_cursor_is_the_platforms_own_error_not_a_bad_cursor(platform):
    from shared.fieldservice.errors import ValidationFailed

    def refuse(tenant_id, *, cursor=None, limit=100, updated_since=None):
        raise ValidationFailed("limit out of range", status=422)

    platform.list_job_types = refuse
    with pytest.raises(ValidationFailed):
        _service(platform).platform_job_types(Caller("t1", "admin"))
