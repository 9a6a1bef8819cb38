"""The limits of the scale model (docs/scale.md) as they live in the template: Lambda concurrency reserved where it
protects the webhook receiver and caps the run tasks, the worker's SQS scaling capped, no unbounded Map, and an
alarm on each limit that binds first."""

import json
from pathlib import Path

import pytest

from infra.config import stage_config
from infra.local_resources import custom_resource_handlers

STATEMACHINES = Path(__file__).resolve().parents[2] / "infra" / "statemachines"
LAMBDA_UNRESERVED_MINIMUM = 100  # Lambda keeps 100 of the account's concurrency unreserved (docs/scale.md)


def resources(template: dict, resource_type: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


@pytest.fixture(scope="module")
def prod_template():
    from infra.synth import synth_template

    return synth_template(stage="prod", bundle=False)


def _reserved(template: dict) -> dict[str, int]:
    return {logical_id: fn["Properties"]["ReservedConcurrentExecutions"]
            for logical_id, fn in resources(template, "AWS::Lambda::Function").items()
            if "ReservedConcurrentExecutions" in fn["Properties"]}


def test_prod_reserves_concurrency_for_the_receiver_and_caps_the_run_tasks(prod_template):
    assert _reserved(prod_template) == {"WebhooksReceiverFunction": 50, "OnboardFunction": 100,
                                        "PushInvoicesFunction": 300, "PushPaymentsFunction": 300}


def test_reservations_leave_the_unreserved_minimum_and_a_pool_for_the_api(prod_template):
    config = stage_config("prod")
    left = config.account_concurrency - sum(_reserved(prod_template).values())
    assert left >= LAMBDA_UNRESERVED_MINIMUM + 100  # admin, OAuth and the worker share what is left


def test_ephemeral_stages_reserve_nothing(template):
    # A new account's concurrency quota is below what prod reserves; reserving it would fail the deployment.
    assert _reserved(template) == {}


def test_webhook_worker_scaling_is_capped_on_its_event_source(prod_template, template):
    for tpl, expected in ((prod_template, 50), (template, 20)):
        mapping, = resources(tpl, "AWS::Lambda::EventSourceMapping").values()
        assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": expected}


def test_no_map_state_runs_unbounded():
    def states(node):
        for name, state in node.get("States", {}).items():
            yield name, state
            for branch in state.get("Branches", []):
                yield from states(branch)
            for key in ("Iterator", "ItemProcessor"):
                if key in state:
                    yield from states(state[key])

    for path in STATEMACHINES.glob("*.asl.json"):
        for name, state in states(json.loads(path.read_text())):
            if state["Type"] == "Map":
                assert 0 < state.get("MaxConcurrency", 0) <= 40, f"{path.name}:{name} Map needs a MaxConcurrency"


def _alarmed(template: dict) -> set[tuple[str, str]]:
    return {(a["Properties"]["Namespace"], a["Properties"]["MetricName"])
            for a in resources(template, "AWS::CloudWatch::Alarm").values()}


def test_every_binding_limit_has_an_alarm(prod_template):
    assert {("AWS/Lambda", "Throttles"), ("AWS/Lambda", "ConcurrentExecutions"),
            ("AWS/States", "ExecutionThrottled"), ("AWS/States", "ThrottledEvents"),
            ("AWS/Scheduler", "InvocationThrottleCount"), ("AWS/Scheduler", "TargetErrorThrottledCount"),
            ("AWS/DynamoDB", "WriteThrottleEvents"), ("AWS/DynamoDB", "ReadThrottleEvents"),
            ("AWS/SQS", "ApproximateAgeOfOldestMessage")} <= _alarmed(prod_template)


def test_the_pacing_table_and_every_function_are_watched_for_throttling(prod_template):
    alarms = [a["Properties"] for a in resources(prod_template, "AWS::CloudWatch::Alarm").values()]
    throttles = [a for a in alarms if a["MetricName"] == "Throttles"]
    # CDK's BucketDeployment handler (copies the admin page) runs only while CloudFormation deploys: not watched.
    service_functions = set(resources(prod_template, "AWS::Lambda::Function")) - custom_resource_handlers(prod_template)
    assert {a["Dimensions"][0]["Value"]["Ref"] for a in throttles} == service_functions
    tables = {a["Dimensions"][0]["Value"]["Ref"] for a in alarms if a["MetricName"] == "WriteThrottleEvents"}
    assert tables == set(resources(prod_template, "AWS::DynamoDB::Table"))  # the idempotency table holds pacing
    concurrency, = (a for a in alarms if a["MetricName"] == "ConcurrentExecutions")
    assert concurrency["Threshold"] == 800 and concurrency["Statistic"] == "Maximum"


def test_sync_and_onboarding_runs_are_standard_workflows(prod_template):
    machines = resources(prod_template, "AWS::StepFunctions::StateMachine").values()
    assert [m["Properties"]["StateMachineType"] for m in machines] == ["STANDARD", "STANDARD"]


def test_concurrency_slot_leases_outlive_every_task_and_a_task_of_lanes_fits_its_timeout(prod_template):
    """A task holds its company's QuickBooks concurrency slots while it runs (pacing.Pacer.concurrent): the lease
    must not end before the Lambda that holds it can (or two tasks could hold one slot), and an onboarding task's
    creates at QuickBooks' pace (20 batches and the singles beside them, lanes.split) must end well inside it."""
    import math

    from shared.domain import lanes
    from shared.domain.onboarding import ROWS_PER_TASK
    from shared.quickbooks.pacing import SLOT_LEASE_S

    timeouts = {logical_id: fn["Properties"]["Timeout"]
                for logical_id, fn in resources(prod_template, "AWS::Lambda::Function").items()}
    assert max(timeouts.values()) <= SLOT_LEASE_S
    singles = lanes.singles_for(ROWS_PER_TASK, lanes.PACED)  # the most a task waits: nothing left of the budget
    paced = lanes.paced_seconds(math.ceil((ROWS_PER_TASK - singles) / 30), singles, lanes.PACED)
    assert paced < timeouts["OnboardFunction"] / 4
