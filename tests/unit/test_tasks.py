"""The task contract: which faults go back to the state machine as `Throttled` (it backs off and re-runs the task
from its cursor) and which fail the task."""

import logging

import pytest

from shared.fieldservice.errors import RateLimited, Unavailable, ValidationFailed
from shared.quickbooks import errors as qbo
from shared.tasks import TaskEvent, Throttled, run_task

EVENT = TaskEvent(task="step", input={"tenant_id": "t1"})


class Engine:
    def __init__(self, fault: Exception):
        self.fault = fault

    def step(self, state):
        raise self.fault


@pytest.mark.parametrize("fault", [Unavailable("platform down", status=503), RateLimited("slow down"),
                                   qbo.Throttled("3001", "ThrottleExceeded")])
def test_throttling_and_outages_of_either_system_go_back_to_the_state_machine_to_retry(fault):
    with pytest.raises(Throttled):
        run_task(Engine(fault), EVENT, logging.getLogger("test"))


def test_a_platform_refusal_fails_the_task_as_itself():
    refusal = ValidationFailed("name is required", status=422)
    with pytest.raises(ValidationFailed):
        run_task(Engine(refusal), EVENT, logging.getLogger("test"))
