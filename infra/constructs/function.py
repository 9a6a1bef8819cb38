"""The one way this app makes a Lambda function, so runtime, architecture, tracing and logging cannot drift."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as _lambda
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import SERVICE, StageConfig
from infra.nag import acknowledge

# The newest Python Lambda runs that every layer wheel exists for (docs/decisions.md); infra/bundling.py builds the
# layer for the same version.
RUNTIME = _lambda.Runtime.PYTHON_3_14
ARCHITECTURE = _lambda.Architecture.ARM_64
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")


def make_function(
    scope: Construct,
    construct_id: str,
    *,
    config: StageConfig,
    name: str,
    handler: str,
    code: _lambda.Code,
    layers: list[_lambda.ILayerVersion],
    timeout: Duration,
    environment: dict[str, str],
    memory_size: int = 512,
    reserved_concurrency: int | None = None,
    description: str = "",
) -> _lambda.Function:
    log_group = logs.LogGroup(
        scope, f"{construct_id}Logs",
        log_group_name=f"/aws/lambda/{config.name(name)}",
        retention=config.log_retention,
        removal_policy=config.removal_policy,
    )
    # An explicit role instead of the AWSLambdaBasicExecutionRole managed policy: logs are allowed into this
    # function's own log group only.
    role = iam.Role(
        scope, f"{construct_id}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"{config.prefix} {name} function",
    )
    log_group.grant_write(role)
    function = _lambda.Function(
        scope, construct_id,
        function_name=config.name(name),
        description=description,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=handler,
        code=code,
        layers=layers,
        role=role,
        log_group=log_group,
        logging_format=_lambda.LoggingFormat.JSON,
        tracing=_lambda.Tracing.ACTIVE,
        memory_size=memory_size,
        timeout=timeout,
        reserved_concurrent_executions=reserved_concurrency,
        environment={
            "STAGE": config.stage,
            "POWERTOOLS_SERVICE_NAME": SERVICE,
            "POWERTOOLS_METRICS_NAMESPACE": SERVICE,
            "LOG_LEVEL": "DEBUG" if config.is_ephemeral else "INFO",
            **environment,
        },
    )
    acknowledge(
        role, "AwsSolutions-IAM5",
        "X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions; AWS requires "
        "Resource '*' for active tracing.",
        findings=["Resource::*"],
    )
    return function
