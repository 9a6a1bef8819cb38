"""Alarms for everything that can fail without a caller noticing (dead letters, function errors, failed runs) and
for the AWS limits that bind first at scale (docs/scale.md): Lambda concurrency and throttles, Step Functions
start and transition throttling, EventBridge Scheduler throttling, DynamoDB throttling (hot keys such as a
company's pacing item) and a backlog of webhook hints."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as _lambda
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import StageConfig


class Alarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        key: kms.Key,
        dead_letter_queues: dict[str, sqs.IQueue],
        functions: dict[str, _lambda.IFunction],
        state_machines: dict[str, sfn.IStateMachine],
        tables: dict[str, dynamodb.ITable],
        queues: dict[str, sqs.IQueue],
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self, "Topic",
            topic_name=config.name("alarms"),
            display_name=f"{config.prefix} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        # CloudWatch publishes to an encrypted topic only if the key lets it; AWS-managed SNS keys never do.
        key.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
        ))
        action = actions.SnsAction(self.topic)

        for name, queue in dead_letter_queues.items():
            self._alarm(f"{name}Dlq", f"{name} dead-letter queue has messages: inspect and redrive",
                        queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(5),
                                                                            statistic="Maximum"), action)
        for name, function in functions.items():
            self._alarm(f"{name}Errors", f"{name} function errors",
                        function.metric_errors(period=Duration.minutes(5), statistic="Sum"), action)
        for name, machine in state_machines.items():
            self._alarm(f"{name}Failed", f"{name} state machine executions failed",
                        machine.metric_failed(period=Duration.minutes(5), statistic="Sum"), action)

        five = Duration.minutes(5)
        # Lambda: a capped function refusing work, and the account's pool running out (every function shares it).
        for name, function in functions.items():
            self._alarm(f"{name}Throttles", f"{name} invocations throttled: its concurrency cap or the account's "
                        "binds (docs/scale.md)", function.metric_throttles(period=five, statistic="Sum"), action)
        self._alarm("LambdaConcurrency", f"account Lambda concurrency above 80% of {config.account_concurrency}",
                    cloudwatch.Metric(namespace="AWS/Lambda", metric_name="ConcurrentExecutions", period=five,
                                      statistic="Maximum"),
                    action, threshold=int(config.account_concurrency * 0.8))
        # Step Functions: StartExecution throttling per machine, and the account's state-transition bucket.
        for name, machine in state_machines.items():
            self._alarm(f"{name}Throttled", f"{name} executions throttled (StartExecution or transitions)",
                        machine.metric_throttled(period=five, statistic="Sum"), action)
        self._alarm("StateTransitionsThrottled", "account state transitions throttled",
                    sfn.StateTransitionMetric.metric_throttled_events(period=five, statistic="Sum"), action)
        # EventBridge Scheduler: its invocation rate, and its target (StartExecution) throttling it.
        for metric_name in ("InvocationThrottleCount", "TargetErrorThrottledCount"):
            self._alarm(f"Scheduler{metric_name}", f"EventBridge Scheduler {metric_name} > 0",
                        cloudwatch.Metric(namespace="AWS/Scheduler", metric_name=metric_name, period=five,
                                          statistic="Sum"), action)
        # DynamoDB: on-demand tables throttle only a hot partition or a new peak beyond twice the previous one.
        for name, table in tables.items():
            for metric_name in ("ReadThrottleEvents", "WriteThrottleEvents"):
                self._alarm(f"{name}{metric_name}", f"{name} table {metric_name} > 0 (hot key?)",
                            cloudwatch.Metric(namespace="AWS/DynamoDB", metric_name=metric_name, period=five,
                                              statistic="Sum", dimensions_map={"TableName": table.table_name}),
                            action)
        # Hints coalesce per 5 minutes; one older than two windows means the worker is falling behind.
        for name, queue in queues.items():
            self._alarm(f"{name}Backlog", f"{name} queue: oldest message older than 10 minutes",
                        queue.metric_approximate_age_of_oldest_message(period=five, statistic="Maximum"), action,
                        threshold=600)

    def _alarm(self, construct_id: str, description: str, metric: cloudwatch.IMetric,
               action: cloudwatch.IAlarmAction, threshold: int = 0) -> None:
        alarm = cloudwatch.Alarm(
            self, construct_id,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(action)
