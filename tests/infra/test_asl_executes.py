"""The ASL files run in moto's Step Functions interpreter, the engine the local stack uses, with the same
placeholder substitution (here: fake handlers that page twice through every loop)."""

import io
import json
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.infra

STATEMACHINES = Path(__file__).resolve().parents[2] / "infra" / "statemachines"
LOOPING = {"load_quickbooks_customers", "load_platform_clients", "create_in_quickbooks", "create_on_platform",
           "sync_sites", "push_invoices", "push_payments", "sync_clients"}


def _fake_handler(calls: list[str], fail_task: str | None, again_once: bool = False, crash_once: str | None = None):
    def invoke(function, event=None):
        payload = json.loads(event) if isinstance(event, str) else event
        task, state = payload["task"], payload["input"]
        calls.append(task)
        if task == fail_task:
            return json.dumps({"errorType": "Boom", "errorMessage": "failed on purpose"}), True, ""
        if task == crash_once and calls.count(task) == 1:  # its execution environment died mid-invocation
            return json.dumps({"errorType": "Runtime.ExitError",
                               "errorMessage": "Runtime exited with error: signal: terminated"}), True, ""
        if task == "start":
            state = {**state, "stop": state.get("fold", False), "again": False}
        if task == "finish":
            state = {**state, "again": again_once and calls.count("finish") == 1}
        if task in LOOPING:
            pages = state["cursor"].get("pages", 0) + 1
            state = {**state, "cursor": {**state["cursor"], "pages": pages, "done": pages == 2}}
        return json.dumps(state), False, ""
    return invoke


def _engine_handler(calls: list[str], engine):
    """Each task run by the sync engine itself (shared/domain/sync_run.py) over in-memory fakes."""
    def invoke(function, event=None):
        payload = json.loads(event) if isinstance(event, str) else event
        calls.append(payload["task"])
        return json.dumps(getattr(engine, payload["task"])(payload["input"])), False, ""
    return invoke


def _run(monkeypatch, name: str, placeholders: list[str], fail_task: str | None = None, again_once: bool = False,
         run_input: dict | None = None, engine=None, crash_once: str | None = None) -> tuple[dict, list[str]]:
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    from moto.awslambda.models import LambdaFunction

    calls: list[str] = []
    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", _engine_handler(calls, engine) if engine is not None
                        else _fake_handler(calls, fail_task, again_once, crash_once))
    with moto.mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        region = "us-east-1"
        role = boto3.client("iam", region_name=region).create_role(
            RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("h.py", "def handler(e, c): return e")
        lam = boto3.client("lambda", region_name=region)
        definition = (STATEMACHINES / f"{name}.asl.json").read_text()
        for placeholder in placeholders:
            arn = lam.create_function(FunctionName=placeholder, Runtime="python3.12", Role=role, Handler="h.handler",
                                      Code={"ZipFile": archive.getvalue()})["FunctionArn"]
            definition = definition.replace("${" + placeholder + "}", arn)
        sfn = boto3.client("stepfunctions", region_name=region)
        machine = sfn.create_state_machine(name=name, definition=definition, roleArn=role)["stateMachineArn"]
        payload = run_input or {"tenant_id": "t1", "run_id": "r1"}
        execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            result = sfn.describe_execution(executionArn=execution["executionArn"])
            if result["status"] != "RUNNING":
                events = sfn.get_execution_history(executionArn=execution["executionArn"],
                                                   maxResults=1000)["events"]
                entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
                return {**result, "entered": entered}, calls
            time.sleep(0.05)
    raise AssertionError(f"{name} still running; calls so far: {calls}")


def test_onboarding_runs_every_task_and_pages_each_loop(monkeypatch):
    result, calls = _run(monkeypatch, "onboarding", ["OnboardFunctionArn"])
    assert result["status"] == "SUCCEEDED", result
    assert calls == ["enable", "load_quickbooks_customers", "load_quickbooks_customers", "load_platform_clients",
                     "load_platform_clients", "match", "create_in_quickbooks", "create_in_quickbooks",
                     "create_on_platform", "create_on_platform", "sync_sites", "sync_sites", "summarize"]


SYNC_FUNCTIONS = ["PushInvoicesFunctionArn", "PushPaymentsFunctionArn"]
ONE_PASS = ["start", "sync_items", "sync_clients", "sync_clients", "sync_sites", "sync_sites", "push_invoices",
            "push_invoices", "push_payments", "push_payments", "finish"]


def test_sync_runs_every_step_and_goes_round_again_while_changes_were_noted(monkeypatch):
    result, calls = _run(monkeypatch, "sync", SYNC_FUNCTIONS, again_once=True)
    assert result["status"] == "SUCCEEDED", result
    assert calls == ONE_PASS + ONE_PASS


def test_a_sync_run_that_folds_into_another_ends_succeeded_after_its_first_task(monkeypatch):
    result, calls = _run(monkeypatch, "sync", SYNC_FUNCTIONS, run_input={"tenant_id": "t1", "fold": True})
    assert result["status"] == "SUCCEEDED", result
    assert calls == ["start"]


def test_sync_failure_is_recorded_then_fails_the_run(monkeypatch):
    result, calls = _run(monkeypatch, "sync", SYNC_FUNCTIONS, fail_task="push_payments")
    assert result["status"] == "FAILED", result
    assert calls == ONE_PASS[:ONE_PASS.index("push_payments") + 1] + ["record_failure"]


@pytest.mark.parametrize("name, functions, task", [("sync", SYNC_FUNCTIONS, "push_invoices"),
                                                     ("onboarding", ["OnboardFunctionArn"], "match")])
def test_a_task_whose_execution_environment_died_is_tried_again_and_the_run_goes_on(monkeypatch, name, functions,
                                                                                   task):
    """A Lambda runtime that exits mid-invocation (Runtime.ExitError; Step Functions names unhandled ones
    Lambda.Unknown) is no verdict on the task: every task is idempotent, so it is run again, as service errors are."""
    result, calls = _run(monkeypatch, name, functions, crash_once=task)
    assert result["status"] == "SUCCEEDED", result
    assert calls.count(task) == (2 if task == "match" else 3) and "record_failure" not in calls


def test_a_quiet_sync_run_enters_three_states_and_a_busy_one_every_step(monkeypatch):
    """Decision 54, with the engine running each task: a run whose start finds nothing to do is Start -> Stop? ->
    Succeeded (one task: what bench/cost.py prices); a run with a change walks every step as before."""
    from shared.domain.records import SyncRun
    from tests.unit.domain.test_quiet_run import settled

    w = settled()
    w.runs.create(SyncRun("t1", "quiet", "sync", "running", w.now))
    quiet, calls = _run(monkeypatch, "sync", SYNC_FUNCTIONS, run_input={"tenant_id": "t1", "run_id": "quiet"},
                        engine=w.engine())
    assert quiet["status"] == "SUCCEEDED" and calls == ["start"]
    assert quiet["entered"] == ["Start", "Stop?", "Succeeded"]
    assert w.runs.get("t1", "quiet").status == "succeeded"
    w.tick(5)
    client = w.platform.clients["c1"]
    w.platform.update_client("t1", "c1", contact=client.contact.__class__(phone="602-555-0777"))
    w.tick()
    w.runs.create(SyncRun("t1", "busy", "sync", "running", w.now))
    busy, calls = _run(monkeypatch, "sync", SYNC_FUNCTIONS, run_input={"tenant_id": "t1", "run_id": "busy"},
                       engine=w.engine())
    assert busy["status"] == "SUCCEEDED" and calls == ["start", "sync_items", "sync_clients", "sync_clients",
                                                       "sync_sites", "push_invoices", "push_payments", "finish"]
    assert busy["entered"] == ["Start", "Stop?", "SyncItems", "SyncClientsStart", "SyncClients", "SyncClientsDone",
                               "SyncClients", "SyncClientsDone", "SyncSitesStart", "SyncSites", "SyncSitesDone",
                               "PushInvoicesStart", "PushInvoices", "PushInvoicesDone", "PushPaymentsStart",
                               "PushPayments", "PushPaymentsDone", "Finish", "Again?", "Succeeded"]
    assert w.runs.get("t1", "busy").summary["counts"]["customers_updated_in_quickbooks"] == 1
