import json
from pathlib import Path
from typing import Any

import pytest

from infra import local_resources
from infra.constructs.api import route_handler
from shared.routes import ROUTES

pytestmark = pytest.mark.infra

REPO_ROOT = Path(__file__).resolve().parents[2]


def resources(template: dict, resource_type: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


# Policy checks, kept as plain functions so each is also run against a broken template copy, proving it can fail.
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def table_protection_problems(template: dict) -> list[str]:
    problems = []
    for logical_id, table in resources(template, "AWS::DynamoDB::Table").items():
        props = table["Properties"]
        pitr = props.get("PointInTimeRecoverySpecification", {})
        if pitr.get("PointInTimeRecoveryEnabled") is not True:
            problems.append(f"{logical_id}: point-in-time recovery off")
        sse = props.get("SSESpecification", {})
        if not (sse.get("SSEEnabled") is True and sse.get("SSEType") == "KMS" and sse.get("KMSMasterKeyId")):
            problems.append(f"{logical_id}: not encrypted with a customer-managed KMS key")
    return problems


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def function_role_wildcard_problems(template: dict) -> list[str]:
    """Action '*' anywhere, or Resource '*' on anything but the X-Ray actions, in a Lambda function role policy."""
    function_roles = set()
    for function in resources(template, "AWS::Lambda::Function").values():
        role = function["Properties"]["Role"]
        function_roles.add(role["Fn::GetAtt"][0])
    problems = []
    for logical_id, policy in resources(template, "AWS::IAM::Policy").items():
        roles = {ref["Ref"] for ref in policy["Properties"].get("Roles", []) if isinstance(ref, dict)}
        if not roles & function_roles:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = set(_as_list(statement.get("Action", [])))
            targets = _as_list(statement.get("Resource", []))
            if "*" in actions:
                problems.append(f"{logical_id}: Action '*'")
            if "*" in targets and not actions <= XRAY_ACTIONS:
                problems.append(f"{logical_id}: Resource '*' for {sorted(actions - XRAY_ACTIONS)}")
    return problems


# --- data ---------------------------------------------------------------------------------------------------------

def test_every_table_has_pitr_and_a_customer_managed_key(template):
    assert len(resources(template, "AWS::DynamoDB::Table")) == 5
    assert table_protection_problems(template) == []


@pytest.mark.parametrize("mutation", ["drop_pitr", "aws_owned_key"])
def test_table_protection_check_catches_a_table_that_loses_it(template, mutation):
    table = template["Resources"]["LinksTable"]["Properties"]
    if mutation == "drop_pitr":
        del table["PointInTimeRecoverySpecification"]
    else:
        table["SSESpecification"] = {"SSEEnabled": False}
    assert table_protection_problems(template) == [
        "LinksTable: point-in-time recovery off" if mutation == "drop_pitr"
        else "LinksTable: not encrypted with a customer-managed KMS key"
    ]


def test_keys_rotate(template):
    keys = resources(template, "AWS::KMS::Key")
    assert set(keys) == {"DataKey", "TokenKey"}
    assert all(key["Properties"]["EnableKeyRotation"] is True for key in keys.values())


def test_app_secret_is_generated_and_encrypted_with_the_data_key(template):
    secret = template["Resources"]["IntuitAppSecret"]["Properties"]
    assert secret["Name"] == "qbsync-dev/intuit-app"
    assert secret["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    generated = secret["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "state_signing_key"
    assert set(json.loads(generated["SecretStringTemplate"])) == {
        "client_id", "client_secret", "webhook_verifier_token", "fsp_api_key", "fsp_webhook_master_secret"}


def test_local_resources_tables_have_the_contracted_schemas(template):
    tables = {t["TableName"]: t for t in local_resources.dynamodb_tables(template)}

    def keys(schema):
        return [(k["AttributeName"], k["KeyType"]) for k in schema]

    assert set(tables) == {f"qbsync-dev-{n}" for n in ("connections", "links", "sync_runs", "errors", "idempotency")}
    for name in ("connections", "links", "sync_runs", "errors"):
        assert keys(tables[f"qbsync-dev-{name}"]["KeySchema"]) == [("pk", "HASH"), ("sk", "RANGE")]
    assert keys(tables["qbsync-dev-idempotency"]["KeySchema"]) == [("id", "HASH")]
    assert all(t["BillingMode"] == "PAY_PER_REQUEST" for t in tables.values())
    assert all(a["AttributeType"] == "S" for t in tables.values() for a in t["AttributeDefinitions"])

    connections_gsi, = tables["qbsync-dev-connections"]["GlobalSecondaryIndexes"]
    assert connections_gsi["IndexName"] == "by_realm"
    assert keys(connections_gsi["KeySchema"]) == [("realm_id", "HASH")]
    assert connections_gsi["Projection"] == {"ProjectionType": "ALL"}
    links_gsi, = tables["qbsync-dev-links"]["GlobalSecondaryIndexes"]
    assert links_gsi["IndexName"] == "by_qbo"
    assert keys(links_gsi["KeySchema"]) == [("gsi1pk", "HASH"), ("gsi1sk", "RANGE")]
    assert links_gsi["Projection"] == {"ProjectionType": "ALL"}
    for name in ("sync_runs", "errors", "idempotency"):
        assert "GlobalSecondaryIndexes" not in tables[f"qbsync-dev-{name}"]

    assert local_resources.ttl_attributes(template) == {
        "qbsync-dev-connections": "ttl", "qbsync-dev-sync_runs": "ttl", "qbsync-dev-errors": "ttl",
        "qbsync-dev-idempotency": "expiration",
    }


def test_local_resources_tables_are_accepted_by_moto(template):
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for kwargs in local_resources.dynamodb_tables(template):
            client.create_table(**kwargs)
        for table, attribute in local_resources.ttl_attributes(template).items():
            client.update_time_to_live(TableName=table,
                                       TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute})
        assert len(client.list_tables()["TableNames"]) == 5


# --- queues -------------------------------------------------------------------------------------------------------

def test_queues_are_encrypted_fifo_with_a_dead_letter_queue_and_ssl_only(template):
    queues = resources(template, "AWS::SQS::Queue")
    assert set(queues) == {"HintsQueue", "HintsDeadLetterQueue"}
    for queue in queues.values():
        assert queue["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
        assert queue["Properties"]["FifoQueue"] is True
    hints = queues["HintsQueue"]["Properties"]
    assert hints["ContentBasedDeduplication"] is False
    assert hints["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["HintsDeadLetterQueue", "Arn"]},
                                      "maxReceiveCount": 5}
    assert queues["HintsDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600

    ssl_enforced = set()
    for policy in resources(template, "AWS::SQS::QueuePolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                    "Bool": {"aws:SecureTransport": "false"}}:
                ssl_enforced.update(ref["Ref"] for ref in policy["Properties"]["Queues"])
    assert ssl_enforced == set(queues)


def test_local_resources_queues_point_redrive_at_the_local_dlq(template):
    dlq, hints = local_resources.queues(template)
    assert dlq["QueueName"] == "qbsync-dev-hints-dlq.fifo"
    assert hints["Attributes"]["FifoQueue"] == "true"
    assert hints["Attributes"]["ContentBasedDeduplication"] == "false"
    assert json.loads(hints["Attributes"]["RedrivePolicy"]) == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:qbsync-dev-hints-dlq.fifo", "maxReceiveCount": "5"}


def test_worker_drains_the_hints_queue_with_partial_batch_failures(template):
    mapping, = resources(template, "AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    assert props["FunctionName"] == {"Ref": "WebhooksWorkerFunction"}
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["HintsQueue", "Arn"]}
    assert props["BatchSize"] == 10
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # The local stack drains the queue with the same batch size and as many batches in flight.
    assert local_resources.queue_consumers(template) == [{
        "queue": "HintsQueue", "handler": "functions.webhooks.worker.handler", "batch_size": 10,
        "max_concurrency": props["ScalingConfig"]["MaximumConcurrency"]}]


# --- functions ----------------------------------------------------------------------------------------------------

EXPECTED_HANDLERS = {
    "OauthFunction": "functions.oauth.handler.handler",
    "WebhooksReceiverFunction": "functions.webhooks.receiver.handler",
    "WebhooksWorkerFunction": "functions.webhooks.worker.handler",
    "OnboardFunction": "functions.onboard.handler.handler",
    "PushInvoicesFunction": "functions.push_invoices.handler.handler",
    "PushPaymentsFunction": "functions.push_payments.handler.handler",
    "AdminFunction": "functions.admin.handler.handler",
    "QbwcFunction": "functions.qbwc.handler.handler",
}


def test_functions_are_python314_arm64_traced_with_the_layer(template):
    # CDK's own custom-resource handlers (BucketDeployment for the admin page, S3 auto-delete) run only during a
    # deployment, on the runtime CDK pins; everything else is ours and must match.
    cdk_handlers = local_resources.custom_resource_handlers(template)
    assert len(cdk_handlers) == 2
    functions = {k: f for k, f in resources(template, "AWS::Lambda::Function").items() if k not in cdk_handlers}
    assert {k: f["Properties"]["Handler"] for k, f in functions.items()} == EXPECTED_HANDLERS
    for function in functions.values():
        props = function["Properties"]
        assert props["Runtime"] == "python3.14"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Layers"] == [{"Ref": "DependenciesLayer"}]
        assert props["MemorySize"] == 512
        assert props["LoggingConfig"]["LogGroup"]["Ref"] in template["Resources"]
    for name in ("OnboardFunction", "PushInvoicesFunction", "PushPaymentsFunction"):
        assert functions[name]["Properties"]["Timeout"] == 300


def test_function_environments(template):
    env = local_resources.function_environment_keys(template)
    app_env = {"STAGE", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL", "TABLE_CONNECTIONS",
               "TABLE_LINKS", "TABLE_SYNC_RUNS", "TABLE_ERRORS", "TABLE_IDEMPOTENCY", "TOKEN_KEY_ID", "APP_SECRET_ARN",
               "QBO_DISCOVERY_URL", "QBO_API_URL", "FSP_API_URL", "OAUTH_REDIRECT_URI"}
    schedules = {"SCHEDULE_GROUP", "SCHEDULER_ROLE_ARN", "SYNC_STATE_MACHINE_ARN"}
    assert set(env["functions.webhooks.receiver.handler"]) == app_env | {"QUEUE_HINTS_URL"}
    assert set(env["functions.admin.handler.handler"]) == app_env | schedules | {
        "ONBOARDING_STATE_MACHINE_ARN", "QUEUE_HINTS_URL", "QUEUE_HINTS_DLQ_URL"}
    assert set(env["functions.webhooks.worker.handler"]) == app_env | schedules | {"QUEUE_HINTS_DLQ_URL"}
    for handler in ("functions.oauth.handler.handler",
                    "functions.onboard.handler.handler", "functions.push_invoices.handler.handler",
                    "functions.push_payments.handler.handler"):
        assert set(env[handler]) == app_env | schedules, handler


def test_shared_runtime_env_model_accepts_every_function_environment(template):
    """Every handler loads shared.runtime.AppEnv; a required field missing from a function would crash it cold."""
    from shared.runtime import AppEnv

    required = {name.upper() for name, field in AppEnv.model_fields.items() if field.is_required()}
    for handler, keys in local_resources.function_environment_keys(template).items():
        assert required <= set(keys), (handler, required - set(keys))


def test_no_function_role_has_wildcards_beyond_xray(template):
    assert function_role_wildcard_problems(template) == []


def test_wildcard_check_catches_star_action_and_star_resource(template):
    policy = template["Resources"]["FunctionsAdminFunctionRoleDefaultPolicyBE5B55E0"]["Properties"]
    policy["PolicyDocument"]["Statement"].append({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"})
    policy["PolicyDocument"]["Statement"].append({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::x"})
    assert function_role_wildcard_problems(template) == [
        "FunctionsAdminFunctionRoleDefaultPolicyBE5B55E0: Resource '*' for ['dynamodb:*']",
        "FunctionsAdminFunctionRoleDefaultPolicyBE5B55E0: Action '*'",
    ]


def test_schedule_permissions_are_scoped_to_the_group_and_role(template):
    for logical_id, policy in resources(template, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(a.startswith("scheduler:") for a in actions):
                assert sorted(actions) == ["scheduler:CreateSchedule", "scheduler:DeleteSchedule",
                                           "scheduler:GetSchedule", "scheduler:UpdateSchedule"]
                joined = json.dumps(statement["Resource"])
                assert ":schedule/qbsync-dev/*" in joined, logical_id
            if "iam:PassRole" in actions:
                assert statement["Resource"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}


def _who_may_start(template: dict) -> dict[str, set[str]]:
    """State machine logical id -> the function roles allowed states:StartExecution on it."""
    out: dict[str, set[str]] = {}
    for policy in resources(template, "AWS::IAM::Policy").values():
        roles = {ref["Ref"] for ref in policy["Properties"].get("Roles", []) if isinstance(ref, dict)}
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "states:StartExecution" in _as_list(statement["Action"]):
                for target in _as_list(statement["Resource"]):
                    machine = target.get("Ref") if isinstance(target, dict) else target
                    out.setdefault(str(machine), set()).update(roles)
    return out


def test_only_the_admin_api_starts_onboarding_and_webhook_hints_may_start_syncs(template):
    machines = resources(template, "AWS::StepFunctions::StateMachine")
    onboarding = next(k for k in machines if "Onboarding" in k)
    sync = next(k for k in machines if "Sync" in k)
    starters = _who_may_start(template)
    assert len(starters[onboarding]) == 1 and "AdminFunction" in next(iter(starters[onboarding]))
    assert any("WebhooksWorkerFunction" in role for role in starters[sync])
    assert not any("Onboard" in role or "Push" in role for role in starters[sync])


# --- API ----------------------------------------------------------------------------------------------------------

def _routes(template):
    routes = resources(template, "AWS::ApiGatewayV2::Route").values()
    return {r["Properties"]["RouteKey"]: r["Properties"] for r in routes}


def test_every_shared_route_exists_and_reaches_its_function(template):
    routes = _routes(template)
    integrations = resources(template, "AWS::ApiGatewayV2::Integration")
    functions = resources(template, "AWS::Lambda::Function")
    assert set(routes) == {f"{r.method} {r.path}" for r in ROUTES}
    for route in ROUTES:
        target = routes[f"{route.method} {route.path}"]["Target"]["Fn::Join"][1]
        integration = integrations[target[1]["Ref"]]["Properties"]
        function_id = integration["IntegrationUri"]["Fn::GetAtt"][0]
        assert functions[function_id]["Properties"]["Handler"] == route_handler(route)


def test_jwt_authorizer_on_private_routes_and_none_on_public_ones(template):
    authorizer, = resources(template, "AWS::ApiGatewayV2::Authorizer").values()
    assert authorizer["Properties"]["AuthorizerType"] == "JWT"
    assert authorizer["Properties"]["JwtConfiguration"] == {
        "Issuer": "https://auth.dev.fieldservice.example.com/", "Audience": ["qbsync-dev"]}
    routes = _routes(template)
    for key in ("GET /oauth/connect", "POST /admin/disconnect", "GET /admin/{proxy+}", "PUT /admin/{proxy+}",
                "POST /admin/{proxy+}", "DELETE /admin/{proxy+}"):
        assert routes[key]["AuthorizationType"] == "JWT", key
        assert "AuthorizerId" in routes[key]
    for key in ("GET /oauth/callback", "POST /webhooks/quickbooks", "POST /webhooks/fieldservice"):
        assert routes[key]["AuthorizationType"] == "NONE", key
        assert "AuthorizerId" not in routes[key]


def test_api_stage_logs_access_and_throttles(template):
    stage, = resources(template, "AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "$default"
    assert "$context.requestId" in props["AccessLogSettings"]["Format"]
    assert props["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0


# --- state machines -----------------------------------------------------------------------------------------------

ALLOWED_STATE_TYPES = {"Task", "Choice", "Pass", "Wait", "Succeed", "Fail", "Map"}


def test_state_machines_are_the_asl_files_with_every_placeholder_bound(template, synthesized):
    machines = {m["name"]: m for m in local_resources.state_machines(template)}
    assert set(machines) == {"qbsync-dev-onboarding", "qbsync-dev-sync"}
    assert machines["qbsync-dev-onboarding"]["definition_file"] == str(
        REPO_ROOT / "infra/statemachines/onboarding.asl.json")
    for machine in machines.values():
        source = Path(machine["definition_file"]).read_text()
        definition = json.loads(source)
        placeholders = {s["Parameters"]["FunctionName"][2:-1] for s in definition["States"].values()
                        if s["Type"] == "Task"}
        assert placeholders == set(machine["substitutions"])
        # The deployed definition asset is byte-for-byte the file in the repo.
        deployed = [p for p in synthesized.outdir.glob("asset.*.json") if p.read_text() == source]
        assert deployed, machine["name"]
    assert machines["qbsync-dev-sync"]["substitutions"] == {
        "PushInvoicesFunctionArn": "functions.push_invoices.handler.handler",
        "PushPaymentsFunctionArn": "functions.push_payments.handler.handler",
    }


def test_state_machines_log_all_without_data_and_trace(template):
    for machine in resources(template, "AWS::StepFunctions::StateMachine").values():
        props = machine["Properties"]
        assert props["LoggingConfiguration"]["Level"] == "ALL"
        assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
        assert props["TracingConfiguration"] == {"Enabled": True}


def _asl(name):
    return json.loads((REPO_ROOT / "infra/statemachines" / f"{name}.asl.json").read_text())


@pytest.mark.parametrize("name", ["onboarding", "sync"])
def test_asl_tasks_retry_throttling_and_catch_into_record_failure(name):
    definition = _asl(name)
    states = definition["States"]
    assert {s["Type"] for s in states.values()} <= ALLOWED_STATE_TYPES
    targets = {definition["StartAt"]}
    for state_name, state in states.items():
        targets |= {state.get("Next"), state.get("Default")} | {c["Next"] for c in state.get("Choices", [])}
        targets |= {c["Next"] for c in state.get("Catch", [])}
        if state["Type"] != "Task":
            continue
        assert state["Resource"] == "arn:aws:states:::lambda:invoke"
        assert state["OutputPath"] == "$.Payload"
        assert state["Parameters"]["Payload"]["input.$"] == "$"
        throttled = next(r for r in state["Retry"] if r["ErrorEquals"] == ["Throttled"])
        # QuickBooks asks for a minute's wait after a 429: backing off up to 60 s, 12 times, pauses the run for
        # about 10 minutes before it gives up, instead of failing records.
        assert throttled == {"ErrorEquals": ["Throttled"], "IntervalSeconds": 5, "MaxAttempts": 12, "BackoffRate": 2,
                             "MaxDelaySeconds": 60, "JitterStrategy": "FULL"}
        assert any("Lambda.ServiceException" in r["ErrorEquals"] for r in state["Retry"])
        assert any(r["ErrorEquals"] == ["States.Timeout"] for r in state["Retry"])
        assert any(r["ErrorEquals"] == ["Lambda.Unknown", "Runtime.ExitError"] for r in state["Retry"])
        if state_name != "RecordFailure":
            assert state["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                       "Next": "RecordFailure"}]
    targets.discard(None)
    assert targets <= set(states)
    assert set(states) - targets == set(), "unreachable states"
    assert states["RecordFailure"]["Parameters"]["Payload"]["task"] == "record_failure"
    assert states[states["RecordFailure"]["Next"]]["Type"] == "Fail"


def test_onboarding_runs_the_tasks_in_order_and_loops_the_paged_ones():
    states = _asl("onboarding")["States"]
    order, name = [], "Enable"
    while name:
        state = states[name]
        if state["Type"] == "Task":
            order.append(state["Parameters"]["Payload"]["task"])
        if state["Type"] == "Choice":
            loop_task = states[state["Default"]]["Parameters"]["Payload"]["task"]
            assert loop_task == order[-1]
            assert state["Choices"][0]["Variable"] == "$.cursor.done"
            name = state["Choices"][0]["Next"]
            continue
        name = state.get("Next")
    assert order == ["enable", "load_quickbooks_customers", "load_platform_clients", "match", "create_in_quickbooks",
                     "create_on_platform", "sync_sites", "summarize"]


# --- alarms -------------------------------------------------------------------------------------------------------

def test_alarms_cover_dlq_function_errors_and_failed_executions(template):
    alarms = [a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()]
    metrics = sorted((a["Namespace"], a["MetricName"]) for a in alarms)
    assert metrics.count(("AWS/Lambda", "Errors")) == len(EXPECTED_HANDLERS)
    assert metrics.count(("AWS/States", "ExecutionsFailed")) == 2
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in metrics
    topic, = resources(template, "AWS::SNS::Topic").values()
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert all(a["AlarmActions"] == [{"Ref": next(iter(resources(template, "AWS::SNS::Topic")))}] for a in alarms)
