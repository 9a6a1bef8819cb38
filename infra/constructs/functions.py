"""All Lambda functions, their environment and their data-plane grants.

Starting state machines is granted by the stack once they exist (they depend on these functions); here each
function gets only the tables, keys, secret, queue and schedule permissions it uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as _lambda
from aws_cdk import aws_lambda_event_sources as event_sources
from constructs import Construct

from infra import bundling
from infra.config import StageConfig
from infra.constructs.data import Data
from infra.constructs.function import ARCHITECTURE, RUNTIME, make_function
from infra.constructs.ids import pin_logical_id
from infra.constructs.queues import WORKER_TIMEOUT_SECONDS, Queues
from infra.constructs.schedules import Schedules
from infra.nag import acknowledge

READ = "read"
WRITE = "read_write"


@dataclass(frozen=True)
class FunctionSpec:
    key: str
    logical_id: str
    handler: str
    timeout_seconds: int
    tables: dict[str, str]  # table name -> READ or WRITE
    tokens: bool = True  # uses OAuth tokens: talks to QuickBooks and may pause a schedule when a grant is lost
    description: str = ""


ALL_TABLES_RW = {name: WRITE for name in ("connections", "links", "sync_runs", "errors", "idempotency")}

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec("oauth", "OauthFunction", "functions.oauth.handler.handler", 29,
                 {"connections": WRITE, "errors": WRITE, "idempotency": WRITE},
                 description="OAuth connect, callback and disconnect"),
    FunctionSpec("webhooks-receiver", "WebhooksReceiverFunction", "functions.webhooks.receiver.handler", 10,
                 {"connections": READ, "idempotency": WRITE}, tokens=False,
                 description="Verifies webhook signatures and enqueues change hints"),
    FunctionSpec("webhooks-worker", "WebhooksWorkerFunction", "functions.webhooks.worker.handler",
                 WORKER_TIMEOUT_SECONDS, ALL_TABLES_RW, description="Applies queued change hints"),
    FunctionSpec("onboard", "OnboardFunction", "functions.onboard.handler.handler", 300, ALL_TABLES_RW,
                 description="Tasks of the onboarding state machine"),
    FunctionSpec("push-invoices", "PushInvoicesFunction", "functions.push_invoices.handler.handler", 300,
                 ALL_TABLES_RW, description="Pushes ready invoices to QuickBooks"),
    FunctionSpec("push-payments", "PushPaymentsFunction", "functions.push_payments.handler.handler", 300,
                 ALL_TABLES_RW, description="Pushes payments to QuickBooks"),
    FunctionSpec("admin", "AdminFunction", "functions.admin.handler.handler", 29, ALL_TABLES_RW,
                 description="Admin API: settings, lists, history, errors, approvals"),
    FunctionSpec("qbwc", "QbwcFunction", "functions.qbwc.handler.handler", 29,
                 {"connections": WRITE, "links": WRITE, "sync_runs": WRITE, "errors": WRITE}, tokens=False,
                 description="QuickBooks Web Connector SOAP endpoint and Desktop admin routes"),
)
SPECS = {spec.key: spec for spec in FUNCTIONS}

WORKER_BATCH_SIZE = 10


class Functions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        data: Data,
        queues: Queues,
        bundle: bool,
        onboarding_state_machine_arn: str,
        sync_state_machine_arn: str,
        schedules: Schedules,
    ) -> None:
        super().__init__(scope, construct_id)

        code = bundling.function_code()
        self.layer = _lambda.LayerVersion(
            self, "DependenciesLayer",
            layer_version_name=config.name("dependencies"),
            description="Third-party runtime dependencies pinned by requirements.lock",
            code=bundling.dependencies_layer_code(bundle),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            removal_policy=config.removal_policy,
        )
        pin_logical_id(self.layer, "DependenciesLayer")

        # shared.runtime.AppEnv requires the table names, key, secret and QuickBooks URLs in every handler, so they
        # are set everywhere; permissions, not environment variables, are what is kept least-privilege.
        baseline_env = {
            **{f"TABLE_{name.upper()}": table.table_name for name, table in data.tables.items()},
            "TOKEN_KEY_ID": data.token_key.key_arn,
            "APP_SECRET_ARN": data.app_secret.secret_arn,
            "QBO_DISCOVERY_URL": config.qbo_discovery_url,
            "QBO_API_URL": config.qbo_api_url,
            "FSP_API_URL": config.fsp_api_url,
        }
        schedules_env = {
            "SCHEDULE_GROUP": schedules.group_name,
            "SCHEDULER_ROLE_ARN": schedules.role.role_arn,
            "SYNC_STATE_MACHINE_ARN": sync_state_machine_arn,
        }
        extra_env: dict[str, dict[str, str]] = {
            "webhooks-receiver": {"QUEUE_HINTS_URL": queues.hints.queue_url},
            # Poison hint messages are parked on the dead-letter queue at once; the admin API redrives them.
            "webhooks-worker": {"QUEUE_HINTS_DLQ_URL": queues.hints_dlq.queue_url},
            "admin": {"ONBOARDING_STATE_MACHINE_ARN": onboarding_state_machine_arn,
                      "QUEUE_HINTS_URL": queues.hints.queue_url, "QUEUE_HINTS_DLQ_URL": queues.hints_dlq.queue_url},
        }

        self.functions: dict[str, _lambda.Function] = {}
        self.by_handler: dict[str, _lambda.IFunction] = {}
        self.by_alarm_name: dict[str, _lambda.IFunction] = {}
        for spec in FUNCTIONS:
            function = make_function(
                self, spec.logical_id,
                config=config,
                name=spec.key,
                handler=spec.handler,
                code=code,
                layers=[self.layer],
                timeout=Duration.seconds(spec.timeout_seconds),
                environment={
                    **baseline_env,
                    **(schedules_env if spec.tokens else {}),
                    **extra_env.get(spec.key, {}),
                },
                description=spec.description,
                reserved_concurrency=dict(config.reserved_concurrency).get(spec.key),
            )
            pin_logical_id(function, spec.logical_id)
            for name, access in spec.tables.items():
                table = data.tables[name]
                if access == WRITE:
                    table.grant_read_write_data(function)
                else:
                    table.grant_read_data(function)
            if spec.tokens:
                data.token_key.grant_encrypt_decrypt(function)
                # A revoked grant found by any token user pauses that connection's schedule (shared.runtime).
                schedules.grant_manage(role(function))
            data.app_secret.grant_read(function)
            _acknowledge_grant_wildcards(function, spec, data)
            self.functions[spec.key] = function
            self.by_handler[spec.handler] = function
            self.by_alarm_name[spec.logical_id.removesuffix("Function")] = function

        queues.hints.grant_send_messages(self.functions["webhooks-receiver"])
        queues.hints_dlq.grant_send_messages(self.functions["webhooks-worker"])
        queues.hints_dlq.grant_consume_messages(self.functions["admin"])  # redrive: receive, hide, delete
        queues.hints.grant_send_messages(self.functions["admin"])
        self.functions["webhooks-worker"].add_event_source(event_sources.SqsEventSource(
            queues.hints,
            batch_size=WORKER_BATCH_SIZE,
            report_batch_item_failures=True,
            max_concurrency=config.worker_max_concurrency,
        ))

    def __getitem__(self, key: str) -> _lambda.Function:
        return self.functions[key]


def role(function: _lambda.Function) -> iam.Role:
    """make_function always creates an iam.Role; findings must be acknowledged on it, not on the function."""
    assert isinstance(function.role, iam.Role)
    return function.role


def _acknowledge_grant_wildcards(function: _lambda.Function, spec: FunctionSpec, data: Data) -> None:
    """The wildcards CDK's own grant methods emit, each still bound to one of this stack's keys or tables."""
    acknowledge(
        function.role, "AwsSolutions-IAM5",
        "kms:GenerateDataKey* and kms:ReEncrypt* come from CDK's table/key grant methods and are scoped to this "
        "stack's data and token CMK ARNs: envelope encryption needs GenerateDataKey(WithoutPlaintext).",
        findings=["Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*"],
    )
    indexed = [name for name in spec.tables if data.specs[name].indexes]
    if indexed:
        acknowledge(
            function.role, "AwsSolutions-IAM5",
            "<table>/index/* lets the function query the table's own GSIs (by_realm, by_qbo); it grants nothing "
            "beyond that table.",
            findings=[f"Resource::<{data.logical_ids[name]}.Arn>/index/*" for name in indexed],
        )

