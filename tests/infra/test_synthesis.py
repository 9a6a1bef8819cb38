import json

import pytest

from infra import bundling
from infra.synth import cache_key

pytestmark = pytest.mark.infra


def test_cfn_lint_reports_no_errors(synthesized):
    from cfnlint.api import lint

    matches = lint(json.dumps(synthesized.template), regions=["us-east-1"])
    errors = [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches if m.rule.id.startswith("E")]
    assert errors == []


def test_cdk_nag_has_no_unacknowledged_findings(synthesized):
    """cdk-nag v3 runs as a CDK validation plugin: any finding fails app.synth() (the fixture would error) and is
    written to validation-report.json; a clean run leaves no plugin report with violations."""
    report_file = synthesized.outdir / "validation-report.json"
    reports = json.loads(report_file.read_text())["pluginReports"] if report_file.exists() else []
    violations = [v["ruleName"] for r in reports for v in r.get("violations", [])]
    assert violations == []


def test_cdk_nag_wiring_fails_synthesis_on_a_finding(tmp_path):
    """Proves the check above can fail: the same plugin setup rejects an unencrypted, SSL-optional queue."""
    from aws_cdk import App, Stack, Validations
    from aws_cdk import aws_sqs as sqs
    from cdk_nag import AwsSolutionsChecks

    app = App(outdir=str(tmp_path))
    stack = Stack(app, "NagProbe")
    sqs.Queue(stack, "Plain", encryption=sqs.QueueEncryption.UNENCRYPTED)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for r in report["pluginReports"] for v in r["violations"]}
    assert {"AwsSolutions-SQS3", "AwsSolutions-SQS4"} <= rules


def test_function_code_asset_holds_only_the_app_packages(synthesized):
    code_dirs = [p for p in synthesized.outdir.glob("asset.*") if (p / "functions").is_dir()]
    assert len(code_dirs) == 1
    top_level = {p.name for p in code_dirs[0].iterdir()}
    assert top_level == {"functions", "shared"}
    assert not list(code_dirs[0].rglob("__pycache__"))


def test_layer_requirements_come_from_the_lock_without_the_runtime_sdk():
    pins = dict(line.split("==") for line in bundling.runtime_requirements(bundling.LOCK_FILE.read_text()))
    assert set(pins) >= bundling.RUNTIME_ROOTS
    assert {"pydantic-core", "cryptography", "urllib3", "aws-xray-sdk"} <= set(pins)
    assert not set(pins) & {"boto3", "botocore", "s3transfer", "aws-cdk-lib", "moto", "pytest", "cfn-lint"}


def test_layer_requirements_follow_multi_line_via_blocks():
    lock = (
        "aws-lambda-powertools==1.0\n    # via qbsync (pyproject.toml)\n"
        "python-quickbooks==2.0\nintuit-oauth==3.0\npynamodb==4.0\npydantic==5.0\npyjwt==6.0\nrequests==7.0\n"
        "tzdata==11.0\nopenpyxl==12.0\ndefusedxml==14.0\net-xmlfile==13.0\n    # via openpyxl\n"
        "idna==8.0\n    # via\n    #   moto\n    #   requests\n"
        "werkzeug==9.0\n    # via moto\n"
        "botocore==10.0\n    # via pynamodb\n"
    )
    assert bundling.runtime_requirements(lock) == [
        "aws-lambda-powertools==1.0", "defusedxml==14.0", "et-xmlfile==13.0", "idna==8.0", "intuit-oauth==3.0",
        "openpyxl==12.0",
        "pydantic==5.0", "pyjwt==6.0", "pynamodb==4.0", "python-quickbooks==2.0", "requests==7.0", "tzdata==11.0",
    ]


def test_layer_requirements_keep_only_the_pins_of_the_lambda_interpreter():
    lock = (
        "aws-lambda-powertools==1.0\npython-quickbooks==2.0\nintuit-oauth==3.0\npynamodb==4.0\npydantic==5.0\n"
        "pyjwt==6.0\nrequests==7.0\ntzdata==11.0\nopenpyxl==12.0\ndefusedxml==1.0\n"
        "cffi==2.0 ; platform_python_implementation != 'PyPy'\n    # via requests\n"
        "colorama==1.0 ; sys_platform == 'win32'\n    # via requests\n"
        "old==1.0 ; python_full_version < '3.12'\n    # via requests\n"
        "new==2.0 ; python_full_version >= '3.12'\n    # via requests\n"
    )
    pins = bundling.runtime_requirements(lock)
    assert {"cffi==2.0", "new==2.0"} <= set(pins)
    assert not {p.split("==")[0] for p in pins} & {"colorama", "old"}


def test_layer_is_built_for_the_runtime_the_functions_run():
    from aws_cdk import aws_lambda as _lambda

    from infra.constructs.function import RUNTIME

    assert RUNTIME.name == f"python{bundling.LAMBDA_PYTHON}"
    pythons = [getattr(_lambda.Runtime, n).name for n in dir(_lambda.Runtime) if n.startswith("PYTHON_")]
    newest = max(pythons, key=lambda name: tuple(map(int, name.removeprefix("python").split("."))))
    assert RUNTIME.name == newest  # the newest CDK knows; a newer one is a deliberate upgrade (decisions.md)


def test_synth_cache_key_separates_stage_and_bundling():
    assert len({cache_key("dev", False), cache_key("local", False), cache_key("dev", True)}) == 3
    assert cache_key("local", False) == cache_key("local", False)
