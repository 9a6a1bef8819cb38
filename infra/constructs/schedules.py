"""EventBridge Scheduler: one group per stage; application code creates one schedule per connection in it."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.ids import pin_logical_id
from infra.nag import acknowledge

SCHEDULE_ACTIONS = ("scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule",
                    "scheduler:GetSchedule")


class Schedules(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.group = scheduler.ScheduleGroup(
            self, "Group",
            schedule_group_name=config.prefix,
            removal_policy=config.removal_policy,
        )
        pin_logical_id(self.group, "ScheduleGroup")
        stack = Stack.of(self)
        account = stack.account
        self.schedules_arn = stack.format_arn(
            service="scheduler", resource="schedule", resource_name=f"{config.prefix}/*",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        # How cdk-nag spells that ARN in its IAM5 finding (intrinsics rendered as <...>).
        self.schedules_arn_pattern = (
            f"arn:<AWS::Partition>:scheduler:{stack.region}:<AWS::AccountId>:schedule/{config.prefix}/*"
        )
        # The confused-deputy guard AWS recommends for Scheduler execution roles.
        self.role = iam.Role(
            self, "SchedulerRole",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com", conditions={
                "StringEquals": {"aws:SourceAccount": account},
                "ArnEquals": {"aws:SourceArn": self.group.schedule_group_arn},
            }),
            description=f"{config.prefix}: EventBridge Scheduler starts sync runs",
        )
        pin_logical_id(self.role, "SchedulerRole")

    @property
    def group_name(self) -> str:
        return self.group.schedule_group_name

    def allow_target(self, state_machine: sfn.IStateMachine) -> None:
        state_machine.grant_start_execution(self.role)

    def grant_manage(self, grantee: iam.Role) -> None:
        """Create, update, read and delete schedules in this group and hand them the scheduler role; nothing else."""
        # ScheduleGroup.grant() scopes to the group's own ARN, but the schedule actions authorize against
        # schedule/<group>/<name>; one schedule per connection is created at runtime, hence the name wildcard.
        iam.Grant.add_to_principal(grantee=grantee, actions=list(SCHEDULE_ACTIONS), resource_arns=[self.schedules_arn])
        self.role.grant_pass_role(grantee)
        acknowledge(
            grantee, "AwsSolutions-IAM5",
            "Schedules are created at runtime, one per connection, so their names are not known at deploy time; "
            "the wildcard is confined to this stage's own schedule group.",
            findings=[f"Resource::{self.schedules_arn_pattern}"],
        )
