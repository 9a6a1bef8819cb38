import os

# Unit and infra tests must never reach AWS: fake credentials and a region for every boto3 client.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "qbsync")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def template():
    """The synthesized CloudFormation template of the local stage, built once per run (cached on disk by hash)."""
    from infra.synth import synth_template

    return synth_template(stage="local", bundle=False)


@pytest.fixture
def aws_tables(template, monkeypatch):
    """moto in-process with the tables CDK declares (from the template, so schemas cannot drift) bound to PynamoDB."""
    import boto3
    from moto import mock_aws

    from infra import local_resources
    from qbsync.local.moto_fidelity import serialize_dynamodb
    from shared.data.models import bind_tables

    serialize_dynamodb()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        names = {}
        for table in local_resources.dynamodb_tables(template):
            ddb.create_table(**table)
            names[table["TableName"].removeprefix("qbsync-local-")] = table["TableName"]
        for name, table in names.items():
            monkeypatch.setenv(f"TABLE_{name.upper()}", table)
        bind_tables(names, "us-east-1")
        yield names
