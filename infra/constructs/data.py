"""DynamoDB tables, the KMS keys and the Intuit app secret.

Table schemas are a contract with application code and the local stack (infra.local_resources reads them back out of
the synthesized template), so they are declared once, here, as data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.ids import pin_logical_id
from infra.nag import acknowledge

S = dynamodb.AttributeType.STRING


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    range_key: str | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    hash_key: str
    range_key: str | None = None
    ttl: str | None = None
    indexes: tuple[Index, ...] = ()


TABLES: tuple[TableSpec, ...] = (
    TableSpec("connections", "pk", "sk", ttl="ttl", indexes=(Index("by_realm", "realm_id"),)),
    TableSpec("links", "pk", "sk", indexes=(Index("by_qbo", "gsi1pk", "gsi1sk"),)),
    TableSpec("sync_runs", "pk", "sk", ttl="ttl"),
    TableSpec("errors", "pk", "sk", ttl="ttl"),
    # Powertools' DynamoDBPersistenceLayer defaults: partition key `id`, expiry attribute `expiration`.
    TableSpec("idempotency", "id", ttl="expiration"),
)

# Placeholders: operators put the real Intuit / FSP credentials into the secret after the first deploy.
APP_SECRET_PLACEHOLDERS = ("client_id", "client_secret", "webhook_verifier_token", "fsp_api_key",
                           "fsp_webhook_master_secret")


class Data(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)

        self.data_key = kms.Key(
            self, "DataKey",
            alias=f"alias/{config.prefix}/data",
            description="qbsync: tables, app secret, queues and alarm topic at rest",
            enable_key_rotation=True,
            removal_policy=config.removal_policy,
        )
        pin_logical_id(self.data_key, "DataKey")
        # A key of its own so token decryption can be granted (and audited in CloudTrail) apart from table access.
        self.token_key = kms.Key(
            self, "TokenKey",
            alias=f"alias/{config.prefix}/tokens",
            description="qbsync: envelope encryption of QuickBooks OAuth tokens",
            enable_key_rotation=True,
            removal_policy=config.removal_policy,
        )
        pin_logical_id(self.token_key, "TokenKey")

        self.specs = {spec.name: spec for spec in TABLES}
        self.logical_ids = {spec.name: table_logical_id(spec.name) for spec in TABLES}
        self.tables: dict[str, dynamodb.Table] = {}
        for spec in TABLES:
            table = dynamodb.Table(
                self, self.logical_ids[spec.name],
                table_name=config.name(spec.name),
                partition_key=dynamodb.Attribute(name=spec.hash_key, type=S),
                sort_key=dynamodb.Attribute(name=spec.range_key, type=S) if spec.range_key else None,
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
                encryption_key=self.data_key,
                time_to_live_attribute=spec.ttl,
                deletion_protection=not config.is_ephemeral,
                removal_policy=config.removal_policy,
            )
            for index in spec.indexes:
                table.add_global_secondary_index(
                    index_name=index.name,
                    partition_key=dynamodb.Attribute(name=index.hash_key, type=S),
                    sort_key=dynamodb.Attribute(name=index.range_key, type=S) if index.range_key else None,
                    projection_type=dynamodb.ProjectionType.ALL,
                )
            pin_logical_id(table, self.logical_ids[spec.name])
            self.tables[spec.name] = table

        self.app_secret = secretsmanager.Secret(
            self, "IntuitAppSecret",
            secret_name=f"{config.prefix}/intuit-app",
            description="Intuit app credentials, webhook verifier token, OAuth state signing key, FSP credentials",
            encryption_key=self.data_key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({key: "CHANGE_ME" for key in APP_SECRET_PLACEHOLDERS}),
                generate_string_key="state_signing_key",
                password_length=64,
                exclude_punctuation=True,
            ),
            removal_policy=config.removal_policy,
        )
        pin_logical_id(self.app_secret, "IntuitAppSecret")
        acknowledge(
            self.app_secret, "AwsSolutions-SMG4",
            "The Intuit client secret and FSP credentials are issued by third parties and rotated in their "
                   "consoles, then pasted here; a rotation Lambda cannot mint them. The state signing key only "
                   "signs 10-minute OAuth state values and is rotated by re-generating the secret value.",
        )


def table_logical_id(name: str) -> str:
    return "".join(part.title() for part in name.split("_")) + "Table"
