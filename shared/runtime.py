"""Composition root for the Lambda handlers: the environment model, validated once, and adapters built lazily."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from shared.config import TablesEnv, load_env

if TYPE_CHECKING:
    from shared.domain.sync_run import SyncEngine


class AppEnv(TablesEnv):
    token_key_id: str
    app_secret_arn: str
    qbo_discovery_url: str
    qbo_api_url: str
    oauth_redirect_uri: str
    fsp_api_url: str = ""
    schedule_group: str = ""
    scheduler_role_arn: str = ""
    sync_state_machine_arn: str = ""
    onboarding_state_machine_arn: str = ""
    queue_hints_url: str = ""
    queue_hints_dlq_url: str = ""
    # QuickBooks' published per-company limits (qbo-facts.md); lower them only to match a stand-in that is stricter.
    qbo_requests_per_minute: int = 500
    qbo_batches_per_minute: int = 40


class AppSecret(BaseModel):
    """The Secrets Manager JSON document `{prefix}/intuit-app` (see docs/infra.md)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    client_id: str
    client_secret: str
    webhook_verifier_token: str
    state_signing_key: str
    fsp_api_key: str = ""
    fsp_webhook_master_secret: str = ""

    def __repr__(self) -> str:
        return "AppSecret(***)"


@dataclass
class Runtime:
    env: AppEnv

    @cached_property
    def secret(self) -> AppSecret:
        from aws_lambda_powertools.utilities import parameters

        return AppSecret.model_validate(parameters.get_secret(self.env.app_secret_arn, transform="json", max_age=300))

    @cached_property
    def intuit_app(self):
        from shared.quickbooks.client import IntuitApp

        return IntuitApp(self.secret.client_id, self.secret.client_secret, self.env.oauth_redirect_uri,
                         self.env.qbo_discovery_url, self.env.qbo_api_url)

    @cached_property
    def connections(self):
        from shared.data.connections_repo import DynamoConnectionRepo

        return DynamoConnectionRepo()

    @cached_property
    def token_store(self):
        from shared.aws.token_cipher import KmsTokenCipher
        from shared.data.token_store import DynamoTokenStore

        return DynamoTokenStore(KmsTokenCipher(self.env.token_key_id))

    @cached_property
    def oauth(self):
        from shared.quickbooks.oauth import IntuitOAuth

        return IntuitOAuth(self.intuit_app)

    @cached_property
    def schedules(self):
        from shared.aws.schedules import SchedulerAdapter

        return SchedulerAdapter(self.env.schedule_group, self.env.scheduler_role_arn, self.env.sync_state_machine_arn)

    @cached_property
    def connection_service(self):
        from shared.data.repos import SettingsRepo
        from shared.domain.connections import ConnectionService, ScheduleLifecycle, StateSigner

        return ConnectionService(self.connections, self.token_store, self.oauth, self.schedules,
                                 StateSigner(self.secret.state_signing_key.encode()), self._read_company,
                                 lifecycle=ScheduleLifecycle(self.schedules, SettingsRepo()))

    @cached_property
    def token_service(self):
        from shared.quickbooks.tokens import TokenService

        return TokenService(self.token_store, self.oauth,
                            on_grant_lost=lambda tenant, reason: self.connection_service.grant_lost(tenant, reason))

    def quickbooks(self, tenant_id: str):
        """An authenticated QuickBooks port for one tenant's connection."""
        from shared.quickbooks.adapter import QuickBooksAdapter
        from shared.quickbooks.client import quickbooks_client

        access, realm = self.token_service.access(tenant_id)
        qb, recorder = quickbooks_client(self.intuit_app, access_token=access, realm_id=realm)
        return QuickBooksAdapter(qb, recorder, realm, on_auth_failed=lambda: self.token_service.distrust(tenant_id),
                                 pace=lambda kind: self.pacer.before(realm, kind),
                                 concurrent=lambda want: self.pacer.concurrent(realm, want),
                                 budget=lambda: self.pacer.budget(realm))

    @cached_property
    def pacer(self):
        from shared.data.pace_store import DynamoPaceStore
        from shared.quickbooks.pacing import Pacer, quickbooks_limits

        return Pacer(DynamoPaceStore(), quickbooks_limits(self.env.qbo_requests_per_minute,
                                                          self.env.qbo_batches_per_minute))

    @cached_property
    def fieldservice(self):
        from shared.fieldservice.http_adapter import HttpFieldService

        return HttpFieldService(self.env.fsp_api_url, self.secret.fsp_api_key)

    def sync_deps(self, tenant_id: str):
        """What onboarding and sync runs need for one tenant, with the settings in force now."""
        from shared.data.repos import ErrorRepo, LinkRepo, RunRepo, SettingsRepo
        from shared.domain.onboarding import Deps
        from shared.domain.settings import SyncSettings, default_settings

        stored = SettingsRepo().get(tenant_id)
        settings = SyncSettings.model_validate(stored[0]) if stored else default_settings()

        @lru_cache(maxsize=1)
        def quickbooks():
            # One adapter per task: building one reads and decrypts the tokens (two AWS calls), and a task asks for
            # it at every step. A token that expires mid-task is met as a 401, which distrusts it: the task's retry
            # builds a fresh adapter.
            return self.quickbooks(tenant_id)

        return Deps(tenant_id=tenant_id, quickbooks=quickbooks, platform=self.fieldservice,
                    links=LinkRepo(), runs=RunRepo(), errors=ErrorRepo(), settings=settings,
                    connections=self.connections)

    def sync_engine(self, tenant_id: str) -> SyncEngine:
        """The sync run's engine for one tenant (shared/domain/sync_run.py): its tasks, and record-level applies."""
        from shared.data.cursors import DynamoCursors
        from shared.data.repos import ReviewRepo
        from shared.data.sync_gate import DynamoSyncGate
        from shared.domain.sync_run import SyncEngine

        return SyncEngine(self.sync_deps(tenant_id), DynamoSyncGate(), DynamoCursors(), review=ReviewRepo())

    def _read_company(self, realm_id: str, access_token: str) -> str | None:
        from shared.quickbooks.adapter import QuickBooksAdapter
        from shared.quickbooks.client import quickbooks_client

        qb, recorder = quickbooks_client(self.intuit_app, access_token=access_token, realm_id=realm_id)
        return QuickBooksAdapter(qb, recorder, realm_id).company_name()


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    from shared.data.models import bind_tables

    env = load_env(AppEnv)
    bind_tables({"connections": env.table_connections, "links": env.table_links, "sync_runs": env.table_sync_runs,
                 "errors": env.table_errors, "idempotency": env.table_idempotency}, env.aws_region)
    return Runtime(env)
