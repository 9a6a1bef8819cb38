"""Step Functions state machines. The ASL lives in infra/statemachines/*.asl.json with ${...} placeholders, so the
local stack runs exactly the definition that is deployed, with local function ARNs substituted."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as _lambda
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.ids import pin_logical_id
from infra.nag import acknowledge

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFINITION_FILE_METADATA = "qbsync:definition_file"
STATEMACHINES_DIR = Path(__file__).resolve().parent.parent / "statemachines"
ONBOARDING_ASL = STATEMACHINES_DIR / "onboarding.asl.json"
SYNC_ASL = STATEMACHINES_DIR / "sync.asl.json"


def state_machine_arn(scope: Construct, name: str) -> str:
    """ARN from the known name: functions get it in their environment without depending on the state machine,
    which itself depends on functions (a cycle otherwise)."""
    return Stack.of(scope).format_arn(
        service="states", resource="stateMachine", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )


class Workflows(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        onboard: _lambda.IFunction,
        push_invoices: _lambda.IFunction,
        push_payments: _lambda.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.onboarding = self._state_machine(
            "OnboardingStateMachine", config, config.name("onboarding"), ONBOARDING_ASL,
            {"OnboardFunctionArn": onboard},
        )
        self.sync = self._state_machine(
            "SyncStateMachine", config, config.name("sync"), SYNC_ASL,
            {"PushInvoicesFunctionArn": push_invoices, "PushPaymentsFunctionArn": push_payments},
        )

    def _state_machine(
        self,
        logical_id: str,
        config: StageConfig,
        name: str,
        asl: Path,
        functions: dict[str, _lambda.IFunction],
    ) -> sfn.StateMachine:
        log_group = logs.LogGroup(
            self, f"{logical_id}Logs",
            log_group_name=f"/aws/vendedlogs/states/{name}",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        machine = sfn.StateMachine(
            self, logical_id,
            state_machine_name=name,
            definition_body=sfn.DefinitionBody.from_file(str(asl)),
            definition_substitutions={key: fn.function_arn for key, fn in functions.items()},
            # Standard, not Express: a run id is the execution name and a second start with it must fail
            # (ExecutionAlreadyExists coalesces webhook hints, shared/aws/workflows.py), runs outlast Express' 5
            # minutes at QuickBooks' limits, and each task runs once, not at least once (docs/scale.md).
            state_machine_type=sfn.StateMachineType.STANDARD,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
            removal_policy=config.removal_policy,
        )
        pin_logical_id(machine, logical_id)
        # The definition itself ships as an S3 asset; this lets infra.local_resources find the source file.
        machine.node.default_child.add_metadata(DEFINITION_FILE_METADATA, asl.relative_to(REPO_ROOT).as_posix())
        # The unqualified ARN only: fn.grant_invoke would add "<arn>:*" (every version and alias), which the ASL
        # never calls.
        machine.add_to_role_policy(iam.PolicyStatement(
            actions=["lambda:InvokeFunction"],
            resources=[fn.function_arn for fn in functions.values()],
        ))
        acknowledge(
            machine.role, "AwsSolutions-IAM5",
            "Step Functions log delivery (logs:CreateLogDelivery, ...) and X-Ray (xray:PutTraceSegments, "
                   "...) do not support resource-level permissions; AWS documents Resource '*' for both.",
            findings=["Resource::*"],
        )
        return machine
