"""The whole service in one stack: each concern is a construct in infra/constructs/, wired together here."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.alarms import Alarms
from infra.constructs.api import Api
from infra.constructs.data import Data
from infra.constructs.functions import Functions
from infra.constructs.queues import Queues
from infra.constructs.schedules import Schedules
from infra.constructs.web import Web
from infra.constructs.workflows import Workflows, state_machine_arn


class QbSyncStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, bundle: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config

        self.data = Data(self, "Data", config=config)
        self.queues = Queues(self, "Queues", config=config, key=self.data.data_key)
        self.schedules = Schedules(self, "Schedules", config=config)
        self.functions = Functions(
            self, "Functions",
            config=config,
            data=self.data,
            queues=self.queues,
            bundle=bundle,
            onboarding_state_machine_arn=state_machine_arn(self, config.name("onboarding")),
            sync_state_machine_arn=state_machine_arn(self, config.name("sync")),
            schedules=self.schedules,
        )
        fns = self.functions
        self.workflows = Workflows(
            self, "Workflows",
            config=config,
            onboard=fns["onboard"],
            push_invoices=fns["push-invoices"],
            push_payments=fns["push-payments"],
        )
        self.schedules.allow_target(self.workflows.sync)
        self.workflows.onboarding.grant_start_execution(fns["admin"])
        self.workflows.sync.grant_start_execution(fns["admin"])
        # Webhook hints start (coalesced) sync runs.
        self.workflows.sync.grant_start_execution(fns["webhooks-worker"])

        self.web = Web(self, "Web", config=config)
        self.api = Api(
            self, "Api",
            config=config,
            functions_by_handler=fns.by_handler,
            cors_origins=[self.web.origin],
        )
        self.web.publish(api_url=self.api.url)
        redirect_uri = f"{self.api.url}/oauth/callback"
        # Every handler builds the Intuit client, whose token refresh needs the registered redirect URI.
        for function in fns.functions.values():
            function.add_environment("OAUTH_REDIRECT_URI", redirect_uri)

        self.alarms = Alarms(
            self, "Alarms",
            config=config,
            key=self.data.data_key,
            dead_letter_queues={"Hints": self.queues.hints_dlq},
            functions=fns.by_alarm_name,
            state_machines={"Onboarding": self.workflows.onboarding, "Sync": self.workflows.sync},
            tables={name.title().replace("_", ""): table for name, table in self.data.tables.items()},
            queues={"Hints": self.queues.hints},
        )

        CfnOutput(self, "ApiUrl", value=self.api.url)
        CfnOutput(self, "OAuthRedirectUri", value=redirect_uri)
        CfnOutput(self, "AdminPageUrl", value=self.web.url)
        CfnOutput(self, "AlarmTopicArn", value=self.alarms.topic.topic_arn)
