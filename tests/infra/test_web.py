"""The admin page's deployment (infra/constructs/web.py): a private bucket reachable only through CloudFront's origin
access control, HTTPS only, security headers, config.json naming the API, and the API's CORS naming the page."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from infra import local_resources
from infra.constructs.web import VIEWER_REQUEST
from qbsync.local.gateway import APP_HEADERS

pytestmark = pytest.mark.infra

REPO_ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTION_ORIGIN = {"Fn::Join": ["", ["https://", {"Fn::GetAtt": ["WebDistribution", "DomainName"]}]]}
API_ENDPOINT = {"Fn::GetAtt": ["HttpApi", "ApiEndpoint"]}


def resources(template: dict, resource_type: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def _policy_of(template: dict, bucket: str) -> list[dict]:
    policy, = (p for p in resources(template, "AWS::S3::BucketPolicy").values()
               if p["Properties"]["Bucket"] == {"Ref": bucket})
    return policy["Properties"]["PolicyDocument"]["Statement"]


def bucket_exposure_problems(template: dict) -> list[str]:
    """How the page's bucket could be read other than by this distribution over TLS. Kept a plain function so it is
    also run against broken copies of the template, proving it can fail."""
    problems = []
    bucket = template["Resources"]["WebBucket"]["Properties"]
    if set(bucket.get("PublicAccessBlockConfiguration", {}).values()) != {True} or \
            len(bucket["PublicAccessBlockConfiguration"]) != 4:
        problems.append("public access not fully blocked")
    if "AccessControl" in bucket or "WebsiteConfiguration" in bucket:
        problems.append("ACL or website hosting")
    distribution_arn = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":cloudfront::",
                                          {"Ref": "AWS::AccountId"}, ":distribution/", {"Ref": "WebDistribution"}]]}
    readers = []
    for statement in _policy_of(template, "WebBucket"):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] == "Deny":
            continue
        if not any(a in ("s3:*", "s3:GetObject", "s3:GetObject*") for a in actions):
            continue
        principal = statement["Principal"]
        if principal == {"Service": "cloudfront.amazonaws.com"}:
            if statement.get("Condition") != {"StringEquals": {"AWS:SourceArn": distribution_arn}}:
                problems.append("CloudFront may read the bucket for any distribution")
            readers.append("cloudfront")
        else:
            problems.append(f"{principal} may read objects")
    if readers != ["cloudfront"]:
        problems.append("the distribution is not the one reader")
    ssl_only = {"Action": "s3:*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}, "Effect": "Deny",
                "Principal": {"AWS": "*"}}
    if not any({k: s.get(k) for k in ssl_only} == ssl_only for s in _policy_of(template, "WebBucket")):
        problems.append("plain HTTP not denied")
    origin, = template["Resources"]["WebDistribution"]["Properties"]["DistributionConfig"]["Origins"]
    if "OriginAccessControlId" not in origin or origin["S3OriginConfig"].get("OriginAccessIdentity"):
        problems.append("origin not signed with origin access control")
    return problems


def test_page_bucket_is_private_encrypted_versioned_and_logged(template):
    bucket = template["Resources"]["WebBucket"]["Properties"]
    assert bucket_exposure_problems(template) == []
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "WebAccessLogsBucket"}
    oac, = resources(template, "AWS::CloudFront::OriginAccessControl").values()
    assert oac["Properties"]["OriginAccessControlConfig"] | {"Name": None} == {
        "Name": None, "OriginAccessControlOriginType": "s3", "SigningBehavior": "always", "SigningProtocol": "sigv4"}
    assert not resources(template, "AWS::CloudFront::CloudFrontOriginAccessIdentity")
    logs = template["Resources"]["WebAccessLogsBucket"]["Properties"]
    assert set(logs["PublicAccessBlockConfiguration"].values()) == {True}


@pytest.mark.parametrize("mutation", ["public_read", "any_distribution", "oai", "unblock"])
def test_bucket_exposure_check_catches_each_way_out(template, mutation):
    statements = _policy_of(template, "WebBucket")
    if mutation == "public_read":
        statements.append({"Action": "s3:GetObject", "Effect": "Allow", "Principal": {"AWS": "*"},
                           "Resource": "arn:aws:s3:::x/*"})
    elif mutation == "any_distribution":
        next(s for s in statements if s["Principal"] == {"Service": "cloudfront.amazonaws.com"}).pop("Condition")
    elif mutation == "oai":
        origin, = template["Resources"]["WebDistribution"]["Properties"]["DistributionConfig"]["Origins"]
        origin.pop("OriginAccessControlId")
        origin["S3OriginConfig"]["OriginAccessIdentity"] = "origin-access-identity/cloudfront/E1"
    else:
        template["Resources"]["WebBucket"]["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] = False
    assert bucket_exposure_problems(template) != []


def test_distribution_redirects_to_https_and_adds_the_security_headers(template):
    config = template["Resources"]["WebDistribution"]["Properties"]["DistributionConfig"]
    behaviors = [config["DefaultCacheBehavior"], *config.get("CacheBehaviors", [])]
    assert {b["ViewerProtocolPolicy"] for b in behaviors} == {"redirect-to-https"}
    assert {json.dumps(b["ResponseHeadersPolicyId"]) for b in behaviors} == {json.dumps({"Ref": "WebSecurityHeaders"})}
    assert config["DefaultCacheBehavior"]["AllowedMethods"] == ["GET", "HEAD"]
    assert config["Logging"]["Bucket"] == {"Fn::GetAtt": ["WebAccessLogsBucket", "RegionalDomainName"]}

    headers = template["Resources"]["WebSecurityHeaders"]["Properties"]["ResponseHeadersPolicyConfig"][
        "SecurityHeadersConfig"]
    assert all(h["Override"] is True for h in headers.values())
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 365 * 86400
    assert headers["StrictTransportSecurity"]["IncludeSubdomains"] is True
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert "ContentTypeOptions" in headers  # X-Content-Type-Options: nosniff (its only value)
    # The same policy the local gateway sends, with the API's host added to connect-src.
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == APP_HEADERS["Referrer-Policy"]
    csp = headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives.pop("connect-src") == "'self' https://*.execute-api.us-east-1.amazonaws.com"
    local = dict(d.strip().split(" ", 1) for d in APP_HEADERS["Content-Security-Policy"].split(";"))
    assert local.pop("connect-src") == "'self'"
    assert directives == local
    assert directives["frame-ancestors"] == "'none'" and directives["default-src"] == "'self'"


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs CDK itself; without it nothing synthesizes")
@pytest.mark.parametrize(("uri", "expected"), [
    ("/", "redirect /app/"), ("/app", "redirect /app/"), ("/app/", "/app/index.html"),
    ("/app/js/app.js", "/app/js/app.js"), ("/app/config.json", "/app/config.json"),
])
def test_viewer_request_function_serves_the_page_at_app(uri, expected):
    harness = VIEWER_REQUEST + f"""
var out = handler({{request: {{uri: {json.dumps(uri)}, headers: {{}}}}}});
console.log(out.statusCode ? "redirect " + out.headers.location.value : out.uri);
"""
    result = subprocess.run(["node", "-e", harness], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == expected


def test_default_root_function_is_attached_to_viewer_requests(template):
    association, = template["Resources"]["WebDistribution"]["Properties"]["DistributionConfig"][
        "DefaultCacheBehavior"]["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    function, = resources(template, "AWS::CloudFront::Function").values()
    assert function["Properties"]["FunctionCode"] == VIEWER_REQUEST


def test_page_and_a_config_json_naming_the_api_are_deployed_under_app(template, synthesized):
    deployment, = resources(template, "Custom::CDKBucketDeployment").values()
    props = deployment["Properties"]
    assert props["DestinationBucketName"] == {"Ref": "WebBucket"}
    assert props["DestinationBucketKeyPrefix"] == "app"
    assert props["Prune"] is True
    assert props["SystemMetadata"] == {"cache-control": "no-cache"}
    files = {}
    for key, markers in zip(props["SourceObjectKeys"], props["SourceMarkers"], strict=True):
        asset = synthesized.outdir / f"asset.{key.removesuffix('.zip')}"
        for path in asset.rglob("*"):
            if path.is_file():
                text = path.read_text()
                for marker, value in markers.items():
                    text = text.replace(marker, json.dumps(value))
                files[path.relative_to(asset).as_posix()] = text
    web = REPO_ROOT / "web"
    assert set(files) == {p.relative_to(web).as_posix() for p in web.rglob("*") if p.is_file()}
    assert files["index.html"] == (web / "index.html").read_text()
    # The marker's value is the quoted endpoint, so config.json is {"apiUrl": "<the API's URL>"} once deployed.
    assert json.loads(files["config.json"]) == {"apiUrl": {"Fn::Join": ["", ['"', API_ENDPOINT, '"']]}}


def test_api_cors_allows_only_the_page_origin_with_the_page_headers(template):
    cors = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == [DISTRIBUTION_ORIGIN]
    assert sorted(cors["AllowMethods"]) == ["GET", "POST", "PUT"]
    assert sorted(cors["AllowHeaders"]) == ["authorization", "content-type"]
    assert "AllowCredentials" not in cors  # a bearer token, never cookies
    api_js = (REPO_ROOT / "web" / "js" / "api.js").read_text()
    assert "Authorization:" in api_js and '"Content-Type"' in api_js


def test_stack_outputs_the_page_url(template):
    assert template["Outputs"]["AdminPageUrl"]["Value"] == {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": ["WebDistribution", "DomainName"]}, "/app/"]]}


def test_local_stack_gets_only_the_service_functions(template):
    """CDK's custom-resource handlers (BucketDeployment, S3 auto-delete) run only inside CloudFormation."""
    handlers = {fn["Handler"] for fn in local_resources.functions(template)}
    assert handlers and all(h.startswith("functions.") for h in handlers)
    assert len(local_resources.functions(template)) == len(resources(template, "AWS::Lambda::Function")) - 2
