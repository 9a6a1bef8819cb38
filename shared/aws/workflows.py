"""Starting the onboarding and sync state machines. The execution name is the run id, so a repeated start of
the same run is refused by Step Functions instead of running twice."""

from __future__ import annotations

import json

from shared.aws.clients import client


class StepFunctionsStarter:
    def __init__(self, onboarding_arn: str, sync_arn: str):
        self._arns = {"onboarding": onboarding_arn, "sync": sync_arn}

    def start(self, kind: str, tenant_id: str, run_id: str, extra: dict | None = None) -> str:
        sfn = client("stepfunctions")
        payload = {"tenant_id": tenant_id, "run_id": run_id, **(extra or {})}
        try:
            return sfn.start_execution(stateMachineArn=self._arns[kind], name=run_id,
                                       input=json.dumps(payload))["executionArn"]
        except sfn.exceptions.ExecutionAlreadyExists:
            return f"{self._arns[kind]}:{run_id}"
