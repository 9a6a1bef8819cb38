"""Alarms for everything that can fail without a caller noticing: dead letters, function errors, failed runs."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
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

    def _alarm(self, construct_id: str, description: str, metric: cloudwatch.IMetric,
               action: cloudwatch.IAlarmAction) -> None:
        alarm = cloudwatch.Alarm(
            self, construct_id,
            alarm_description=description,
            metric=metric,
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(action)
