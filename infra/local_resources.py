"""Pure functions from a synthesized template to the arguments the local stack hands to moto, so local tables,
queues, functions and state machines have exactly the deployed shapes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFINITION_FILE_METADATA = "qbsync:definition_file"  # written by infra.constructs.workflows

Template = dict[str, Any]

_SQS_ATTRIBUTES = ("FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit",
                   "VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize",
                   "ReceiveMessageWaitTimeSeconds")


def _resources(template: Template, resource_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == resource_type:
            yield logical_id, resource


def dynamodb_tables(template: Template) -> list[dict[str, Any]]:
    """boto3 `dynamodb.create_table` keyword arguments, one per table."""
    tables = []
    for _, resource in _resources(template, "AWS::DynamoDB::Table"):
        props = resource["Properties"]
        kwargs: dict[str, Any] = {
            "TableName": props["TableName"],
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = [
                {"IndexName": gsi["IndexName"], "KeySchema": gsi["KeySchema"], "Projection": gsi["Projection"]}
                for gsi in props["GlobalSecondaryIndexes"]
            ]
        tables.append(kwargs)
    return tables


def ttl_attributes(template: Template) -> dict[str, str]:
    """Table name -> TTL attribute, for `update_time_to_live`."""
    result = {}
    for _, resource in _resources(template, "AWS::DynamoDB::Table"):
        props = resource["Properties"]
        ttl = props.get("TimeToLiveSpecification") or {}
        if ttl.get("Enabled"):
            result[props["TableName"]] = ttl["AttributeName"]
    return result


def queues(template: Template, *, region: str = "us-east-1", account: str = "123456789012") -> list[dict[str, Any]]:
    """boto3 `sqs.create_queue` keyword arguments, dead-letter queues first so redrive targets exist.

    A RedrivePolicy's target ARN (an intrinsic in the template) is rewritten to the local ARN of that queue.
    KMS settings are dropped: moto does not encrypt.
    """
    by_id = dict(_resources(template, "AWS::SQS::Queue"))

    def local_arn(logical_id: str) -> str:
        return f"arn:aws:sqs:{region}:{account}:{by_id[logical_id]['Properties']['QueueName']}"

    result = []
    for _, resource in sorted(by_id.items(), key=lambda item: "RedrivePolicy" in item[1]["Properties"]):
        props = resource["Properties"]
        attributes = {name: _sqs_value(props[name]) for name in _SQS_ATTRIBUTES if name in props}
        if "RedrivePolicy" in props:
            policy = props["RedrivePolicy"]
            target = policy["deadLetterTargetArn"]
            if isinstance(target, dict):
                target = local_arn(target["Fn::GetAtt"][0])
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": target, "maxReceiveCount": str(policy["maxReceiveCount"])}
            )
        result.append({"QueueName": props["QueueName"], "Attributes": attributes})
    return result


def _sqs_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def custom_resource_handlers(template: Template) -> set[str]:
    """Logical ids of the functions that serve CloudFormation custom resources (CDK's own: BucketDeployment's copy of
    the admin page, S3 auto-delete). They run only while CloudFormation deploys, so the local stack has none."""
    handlers = set()
    for resource in template.get("Resources", {}).values():
        if resource.get("Type", "").startswith("Custom::"):
            token = resource["Properties"].get("ServiceToken")
            if isinstance(token, dict) and "Fn::GetAtt" in token:
                handlers.add(token["Fn::GetAtt"][0])
    return handlers


def functions(template: Template) -> list[dict[str, Any]]:
    """Each of the service's Lambda functions (not CDK's custom-resource handlers): logical id, name, handler,
    timeout, memory and its environment variable names."""
    result = []
    cdk_handlers = custom_resource_handlers(template)
    for logical_id, resource in _resources(template, "AWS::Lambda::Function"):
        if logical_id in cdk_handlers:
            continue
        props = resource["Properties"]
        result.append({
            "LogicalId": logical_id,
            "FunctionName": props.get("FunctionName", logical_id),
            "Handler": props["Handler"],
            "Timeout": props.get("Timeout", 3),
            "MemorySize": props.get("MemorySize", 128),
            "EnvironmentKeys": sorted(props.get("Environment", {}).get("Variables", {})),
        })
    return result


def function_environment_keys(template: Template) -> dict[str, list[str]]:
    """Handler path (e.g. "functions.oauth.handler.handler") -> the environment variable names it gets."""
    return {fn["Handler"]: fn["EnvironmentKeys"] for fn in functions(template)}


def state_machines(template: Template) -> list[dict[str, Any]]:
    """Each state machine: name, its ASL source file and, per `${placeholder}`, the handler of the function whose
    ARN replaces it. The local stack substitutes local ARNs into the same file CDK deploys."""
    handlers = {logical_id: res["Properties"]["Handler"]
                for logical_id, res in _resources(template, "AWS::Lambda::Function")}
    result = []
    for _, resource in _resources(template, "AWS::StepFunctions::StateMachine"):
        props = resource["Properties"]
        substitutions = {
            placeholder: handlers[value["Fn::GetAtt"][0]]
            for placeholder, value in props.get("DefinitionSubstitutions", {}).items()
        }
        result.append({
            "name": props["StateMachineName"],
            "definition_file": str(REPO_ROOT / resource["Metadata"][DEFINITION_FILE_METADATA]),
            "substitutions": substitutions,
        })
    return result


def schedule_groups(template: Template) -> list[str]:
    return [res["Properties"]["Name"] for _, res in _resources(template, "AWS::Scheduler::ScheduleGroup")]


def queue_consumers(template: Template) -> list[dict[str, Any]]:
    """Each SQS event source mapping: its queue's logical id, handler, batch size and maximum concurrency (how many
    batches Lambda hands to the function at once; for a FIFO queue, at most one batch per message group)."""
    handlers = {logical_id: res["Properties"]["Handler"] for logical_id, res in _resources(template,
                                                                                         "AWS::Lambda::Function")}
    out = []
    for _, res in _resources(template, "AWS::Lambda::EventSourceMapping"):
        props = res["Properties"]
        queue = props["EventSourceArn"]["Fn::GetAtt"][0]
        out.append({"queue": queue, "handler": handlers[props["FunctionName"]["Ref"]],
                    "batch_size": props.get("BatchSize", 10),
                    "max_concurrency": (props.get("ScalingConfig") or {}).get("MaximumConcurrency", 1000)})
    return out
