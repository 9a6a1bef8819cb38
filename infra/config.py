"""Names and per-stage settings, in one place: every construct reads them from here, never from literals."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs

SERVICE = "qbsync"

QBO_DISCOVERY_PRODUCTION = "https://developer.api.intuit.com/.well-known/openid_configuration"
QBO_DISCOVERY_SANDBOX = "https://developer.api.intuit.com/.well-known/openid_sandbox_configuration"
QBO_API_PRODUCTION = "https://quickbooks.api.intuit.com/v3"
QBO_API_SANDBOX = "https://sandbox-quickbooks.api.intuit.com/v3"


@dataclass(frozen=True)
class StageConfig:
    stage: str
    region: str
    jwt_issuer: str
    jwt_audience: tuple[str, ...]
    qbo_discovery_url: str
    qbo_api_url: str
    fsp_api_url: str
    log_retention: logs.RetentionDays
    # Lambda concurrency (docs/scale.md). Reserved per function key, only where the account's quota is known to be
    # the default 1,000: a new account starts lower, and reserving more than it has fails the deployment.
    reserved_concurrency: tuple[tuple[str, int], ...] = ()
    account_concurrency: int = 1000
    # The webhook worker's SQS event source scales with the hint queue's message groups; capped here, not by
    # reserved concurrency, so a burst waits in the queue instead of being throttled back into it.
    worker_max_concurrency: int = 20

    @property
    def prefix(self) -> str:
        return f"{SERVICE}-{self.stage}"

    @property
    def is_ephemeral(self) -> bool:
        """dev and local stacks are rebuilt at will; everything else holds customer data and must survive."""
        return self.stage in ("dev", "local")

    @property
    def removal_policy(self) -> RemovalPolicy:
        return RemovalPolicy.DESTROY if self.is_ephemeral else RemovalPolicy.RETAIN

    @property
    def stack_name(self) -> str:
        return f"{self.prefix}-stack"

    def name(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"


STAGES: dict[str, StageConfig] = {
    "local": StageConfig(
        stage="local",
        region="us-east-1",
        jwt_issuer="https://auth.local.fieldservice.invalid/",
        jwt_audience=("qbsync",),
        qbo_discovery_url=QBO_DISCOVERY_SANDBOX,
        qbo_api_url=QBO_API_SANDBOX,
        fsp_api_url="http://127.0.0.1/fsp",
        log_retention=logs.RetentionDays.ONE_WEEK,
    ),
    "dev": StageConfig(
        stage="dev",
        region="us-east-1",
        jwt_issuer="https://auth.dev.fieldservice.example.com/",
        jwt_audience=("qbsync-dev",),
        qbo_discovery_url=QBO_DISCOVERY_SANDBOX,
        qbo_api_url=QBO_API_SANDBOX,
        fsp_api_url="https://api.dev.fieldservice.example.com/v1",
        log_retention=logs.RetentionDays.TWO_WEEKS,
    ),
    "prod": StageConfig(
        stage="prod",
        region="us-east-1",
        jwt_issuer="https://auth.fieldservice.example.com/",
        jwt_audience=("qbsync",),
        qbo_discovery_url=QBO_DISCOVERY_PRODUCTION,
        qbo_api_url=QBO_API_PRODUCTION,
        fsp_api_url="https://api.fieldservice.example.com/v1",
        log_retention=logs.RetentionDays.SIX_MONTHS,
        # Of the default 1,000: the receiver is never starved (Intuit wants an answer within 3 s); sync and
        # onboarding tasks are capped so a burst of runs leaves 250 for the admin API, OAuth and the worker.
        reserved_concurrency=(("webhooks-receiver", 50), ("onboard", 100), ("push-invoices", 300),
                              ("push-payments", 300)),
        worker_max_concurrency=50,
    ),
}


def stage_config(stage: str) -> StageConfig:
    try:
        return STAGES[stage]
    except KeyError:
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(sorted(STAGES))}") from None
