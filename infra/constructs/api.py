"""The HTTP API, built from shared.routes.ROUTES so the deployed API and the local gateway serve the same table."""

from __future__ import annotations

import json
from collections.abc import Sequence

import jsii
from aws_cdk import Duration
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as _lambda
from aws_cdk import aws_logs as logs
from aws_cdk.aws_apigateway import AccessLogFormat
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.ids import pin_logical_id
from infra.nag import acknowledge
from shared.routes import ROUTES, Route

THROTTLE_RATE = 200
THROTTLE_BURST = 400
# What the admin page (web/js/api.js) sends cross-origin.
CORS_METHODS = (apigw.CorsHttpMethod.GET, apigw.CorsHttpMethod.POST, apigw.CorsHttpMethod.PUT)
CORS_HEADERS = ("authorization", "content-type")

# Why each unauthenticated route is safe without the platform's JWT.
PUBLIC_ROUTE_REASONS = {
    "/oauth/callback": "Intuit's browser redirect cannot carry the platform JWT; the handler accepts it only with "
                       "a signed, expiring, tenant-bound `state` it issued itself.",
    "/webhooks/quickbooks": "Called by Intuit; every request is verified against the intuit-signature HMAC with "
                            "the app's webhook verifier token before anything is read.",
    "/qbwc": "Called by the QuickBooks Web Connector, which cannot carry the platform JWT; every SOAP call but the "
             "version probes needs a session ticket that only authenticate with the connection's user name and "
             "password (scrypt-hashed) hands out.",
    "/webhooks/fieldservice": "Called by the platform; every request is verified against its HMAC signature with "
                              "the per-tenant webhook secret before anything is read.",
}

ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "latency": "$context.responseLatency",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
    "sub": "$context.authorizer.claims.sub",
})


@jsii.implements(apigw.IAccessLogSettings)
class _AccessLogSettings:
    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigw.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> AccessLogFormat:
        return AccessLogFormat.custom(ACCESS_LOG_FORMAT)


def route_handler(route: Route) -> str:
    return f"functions.{route.function}.{route.handler}"


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        functions_by_handler: dict[str, _lambda.IFunction],
        cors_origins: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.http_api = apigw.HttpApi(
            self, "HttpApi",
            api_name=config.name("api"),
            description="qbsync: OAuth, webhooks and admin API",
            create_default_stage=False,
            # The admin page, served from its own CloudFront origin (infra/constructs/web.py), calls the API with
            # a bearer token and JSON bodies; no other origin may.
            cors_preflight=apigw.CorsPreflightOptions(
                allow_origins=list(cors_origins),
                allow_methods=list(CORS_METHODS),
                allow_headers=list(CORS_HEADERS),
                max_age=Duration.hours(1),
            ) if cors_origins else None,
        )
        pin_logical_id(self.http_api, "HttpApi")
        access_logs = logs.LogGroup(
            self, "AccessLogs",
            log_group_name=f"/aws/apigateway/{config.name('api')}",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        self.stage = apigw.HttpStage(
            self, "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            access_log_settings=_AccessLogSettings(access_logs),
            throttle=apigw.ThrottleSettings(rate_limit=THROTTLE_RATE, burst_limit=THROTTLE_BURST),
        )
        authorizer = authorizers.HttpJwtAuthorizer(
            "PlatformJwt",
            jwt_issuer=config.jwt_issuer,
            jwt_audience=list(config.jwt_audience),
            authorizer_name="platform-jwt",
        )

        integration_by_handler: dict[str, integrations.HttpLambdaIntegration] = {}
        for route in ROUTES:
            handler = route_handler(route)
            if handler not in functions_by_handler:
                raise ValueError(f"route {route.method} {route.path} names {handler}, which no function serves")
            if handler not in integration_by_handler:
                integration_by_handler[handler] = integrations.HttpLambdaIntegration(
                    f"{route.function}-{route.handler}", functions_by_handler[handler]
                )
            if not route.auth and route.path not in PUBLIC_ROUTE_REASONS:
                raise ValueError(f"public route {route.path} needs a reason in PUBLIC_ROUTE_REASONS")
            for http_route in self.http_api.add_routes(
                path=route.path,
                methods=[apigw.HttpMethod(route.method)],
                integration=integration_by_handler[handler],
                authorizer=authorizer if route.auth else apigw.HttpNoneAuthorizer(),
            ):
                if not route.auth:
                    acknowledge(http_route, "AwsSolutions-APIG4", PUBLIC_ROUTE_REASONS[route.path])

    @property
    def url(self) -> str:
        """Base URL without a trailing slash."""
        return self.http_api.api_endpoint
