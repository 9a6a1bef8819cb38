"""Environment, validated once per handler: a pydantic model read from os.environ (names upper-cased)."""

from __future__ import annotations

import os
from functools import cache
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

M = TypeVar("M", bound=BaseModel)


class BaseEnv(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    stage: str = "local"
    service_name: str = "qbsync"
    aws_region: str = "us-east-1"


class TablesEnv(BaseEnv):
    table_connections: str
    table_links: str
    table_sync_runs: str
    table_errors: str
    table_idempotency: str


@cache
def load_env(model: type[M]) -> M:
    """Build `model` from the process environment; raises pydantic.ValidationError naming missing variables."""
    values = {name: os.environ[name.upper()] for name in model.model_fields if name.upper() in os.environ}
    return model(**values)
