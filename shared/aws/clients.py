"""boto3 clients built lazily, once per container. Endpoints come from botocore's own configuration
(AWS_ENDPOINT_URL and friends), which is how the local stack points them at moto."""

from __future__ import annotations

from functools import cache

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10)


@cache
def client(service: str):
    return boto3.session.Session().client(service, config=_CONFIG)
