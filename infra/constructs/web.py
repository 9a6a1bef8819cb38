"""The admin page (web/): a private S3 bucket behind CloudFront with origin access control, TLS only, security
headers, and the HTTP API's URL written into config.json at deploy time.

The page is served at /app/ as the local gateway serves it (qbsync/local/gateway.py), so the link the platform opens
has the same shape everywhere; a viewer-request function maps /app/ to its index.html and sends / there.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.ids import pin_logical_id
from infra.nag import acknowledge

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
APP_PATH = "/app/"
CONFIG_FILE = "config.json"
HSTS_MAX_AGE = Duration.days(730)
ACCESS_LOG_RETENTION = Duration.days(90)

# Directory index for the app path (CloudFront's default root object applies to "/" only, and the page's relative
# links need the browser to be at /app/, not /).
VIEWER_REQUEST = f"""function handler(event) {{
  var uri = event.request.uri;
  if (uri === "/" || uri === "{APP_PATH.rstrip("/")}") {{
    return {{statusCode: 301, statusDescription: "Moved Permanently", headers: {{location: {{value: "{APP_PATH}"}}}}}};
  }}
  if (uri.endsWith("/")) {{
    event.request.uri = uri + "index.html";
  }}
  return event.request;
}}
"""


def content_security_policy(api_origin: str) -> str:
    """The gateway's policy (qbsync/local/gateway.APP_HEADERS) plus the API's origin for the page's fetches."""
    return ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            f"connect-src 'self' {api_origin}; frame-ancestors 'none'")


class Web(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        ephemeral = config.removal_policy == RemovalPolicy.DESTROY
        # Server access logs of the page bucket and CloudFront's standard logs. CloudFront writes its logs with an
        # ACL, so this bucket keeps ACLs on for the object writer; it is never public either.
        self.log_bucket = s3.Bucket(
            self, "AccessLogsBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            lifecycle_rules=[s3.LifecycleRule(expiration=ACCESS_LOG_RETENTION)],
            removal_policy=config.removal_policy,
            auto_delete_objects=ephemeral,
        )
        pin_logical_id(self.log_bucket, "WebAccessLogsBucket")
        acknowledge(self.log_bucket, "AwsSolutions-S1",
                    "This is the access-log bucket itself; logging it into itself or another bucket would recurse.")

        self.bucket = s3.Bucket(
            self, "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            # A deployment replaces every object; older versions are kept a month for a rollback by hand.
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(30))],
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix="s3/",
            removal_policy=config.removal_policy,
            auto_delete_objects=ephemeral,
        )
        pin_logical_id(self.bucket, "WebBucket")

        self.directory_index = cloudfront.Function(
            self, "DirectoryIndex",
            function_name=config.name("web-index"),
            code=cloudfront.FunctionCode.from_inline(VIEWER_REQUEST),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment="/ and /app -> /app/; a path ending in / -> its index.html",
        )
        region = Stack.of(self).region
        # The API's own origin cannot appear here: the API's CORS names this distribution, so the distribution
        # cannot also wait for the API (a CloudFormation cycle); see docs/decisions.md.
        api_origins = f"https://*.execute-api.{region}.amazonaws.com"
        self.headers = cloudfront.ResponseHeadersPolicy(
            self, "SecurityHeaders",
            response_headers_policy_name=config.name("web-security-headers"),
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=HSTS_MAX_AGE, include_subdomains=True, override=True),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True),
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=content_security_policy(api_origins), override=True),
            ),
        )
        pin_logical_id(self.headers, "WebSecurityHeaders")

        self.distribution = cloudfront.Distribution(
            self, "Distribution",
            comment=f"{config.prefix} admin page",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.headers,
                function_associations=[cloudfront.FunctionAssociation(
                    function=self.directory_index, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST)],
            ),
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_logging=True,
            log_bucket=self.log_bucket,
            log_file_prefix="cloudfront/",
        )
        pin_logical_id(self.distribution, "WebDistribution")
        acknowledge(self.distribution, "AwsSolutions-CFR1",
                    "The page is for the platform's customers wherever they work; no country is excluded.")
        acknowledge(self.distribution, "AwsSolutions-CFR2",
                    "Static files by GET/HEAD only from a private bucket; every call the page makes goes to the API, "
                    "which checks the platform JWT (no WAF on the API either: docs/infra.md, Not modelled yet).")
        acknowledge(self.distribution, "AwsSolutions-CFR4",
                    "The default *.cloudfront.net certificate fixes the viewer minimum at TLSv1 (CloudFront does not "
                    "allow another); a custom domain with its own ACM certificate and TLSv1.2_2021 is not modelled.")

    @property
    def origin(self) -> str:
        """The page's origin (scheme and host), as browsers send it in the Origin header."""
        return f"https://{self.distribution.distribution_domain_name}"

    @property
    def url(self) -> str:
        return f"{self.origin}{APP_PATH}"

    def publish(self, *, api_url: str) -> s3deploy.BucketDeployment:
        """Copies web/ under app/ with a config.json that names the API; the page reads it before its first call."""
        deployment = s3deploy.BucketDeployment(
            self, "Deployment",
            destination_bucket=self.bucket,
            destination_key_prefix=APP_PATH.strip("/"),
            sources=[
                # Plain files, no bundling: synthesis needs no Docker.
                s3deploy.Source.asset(str(WEB_DIR), exclude=[CONFIG_FILE]),
                s3deploy.Source.json_data(CONFIG_FILE, {"apiUrl": api_url}),
            ],
            # ES modules without content hashes in their names: browsers and CloudFront revalidate every time.
            cache_control=[s3deploy.CacheControl.no_cache()],
            prune=True,
            memory_limit=256,
        )
        # BucketDeployment runs CDK's own custom-resource Lambda (a stack-level singleton, the parent of its role);
        # its runtime, managed policy and S3 actions are CDK's, not ours to choose.
        handler = deployment.handler_role.node.scope
        acknowledge(handler, "AwsSolutions-L1", "CDK's BucketDeployment handler: CDK pins its runtime.")
        acknowledge(handler, "AwsSolutions-IAM4",
                    "CDK's BucketDeployment handler logs through AWSLambdaBasicExecutionRole, as CDK builds it.",
                    findings=["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"])
        acknowledge(handler, "AwsSolutions-IAM5",
                    "CDK's BucketDeployment grants: read the CDK asset bucket; write and prune this page's bucket.",
                    findings=["Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*",
                              "Action::s3:DeleteObject*", "Action::s3:Abort*", "Resource::<WebBucket.Arn>/*",
                              f"Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-"
                              f"{Stack.of(self).region}/*"])
        return deployment
