"""The state-machine task contract shared by onboarding and sync runs (see docs/infra.md, ASL contract):
`{"task": name, "input": state}` in, the new state out; loops end when the returned `cursor.done` is true."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.errors import RetryLater
from shared.fieldservice.errors import PlatformUnavailable
from shared.quickbooks import errors as qbo


class TaskEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str = Field(pattern=r"^[a-z_]+$")
    input: dict[str, Any]

    @field_validator("input")
    @classmethod
    def _has_tenant(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value.get("tenant_id"), str) or not value["tenant_id"]:
            raise ValueError("input.tenant_id is required")
        return value

    @property
    def tenant_id(self) -> str:
        return self.input["tenant_id"]


class Throttled(Exception):  # noqa: N818 - the ASL's Retry matches this exact error name
    """QuickBooks asked us to wait (429) or is briefly unavailable (5xx, timeouts): Step Functions backs off and
    re-runs the task, which resumes from the cursor in its input."""


def run_task(engine, task: TaskEvent, logger) -> dict:
    method = getattr(engine, task.task, None)
    if method is None or task.task.startswith("_"):
        raise ValueError(f"unknown task {task.task!r}")
    try:
        return method(dict(task.input))
    except qbo.AuthFailed as exc:
        # The token was distrusted on the spot; the retry refreshes it, or learns the grant is gone.
        logger.warning("QuickBooks refused the access token; the state machine retries after a refresh",
                       extra={"code": exc.code})
        raise Throttled(exc.code) from exc
    except (qbo.Throttled, qbo.Unavailable) as exc:
        logger.warning("QuickBooks is throttling or unavailable; the state machine retries",
                       extra={"code": exc.code})
        raise Throttled(exc.code) from exc
    except RetryLater as exc:
        logger.info("not now; the state machine retries", extra={"reason": str(exc)})
        raise Throttled(str(exc)) from exc
    except PlatformUnavailable as exc:
        logger.warning("the field-service platform is throttling or unavailable; the state machine retries",
                       extra={"code": exc.code})
        raise Throttled(exc.code) from exc


def belongs_to_the_run(exc: Exception) -> bool:
    """A fault a task hands back to the state machine to retry later (run_task's mapping), never a record's own."""
    return isinstance(exc, qbo.AuthFailed | qbo.Throttled | qbo.Unavailable | RetryLater | PlatformUnavailable)


def task_handler(service: str, engine_for: Callable[[str], Any]):
    """The Lambda handler for one function's state-machine tasks: validate, bind the correlation id, run."""
    from shared.observability import bind_correlation, get_logger, get_metrics, get_tracer

    logger, metrics, tracer = get_logger(service), get_metrics(service), get_tracer(service)

    @logger.inject_lambda_context
    @metrics.log_metrics
    @tracer.capture_lambda_handler
    def handler(event, context):
        task = TaskEvent.model_validate(event)
        bind_correlation(logger, task.tenant_id, task.input.get("run_id"))
        metrics.add_metric(name="TaskRuns", unit="Count", value=1)
        return run_task(engine_for(task.tenant_id), task, logger)

    return handler


def failure_of(state: dict) -> dict:
    """The error a Catch put in the state, as the run summary shows it: Lambda's cause is a JSON document."""
    error = state.get("error") or {}
    cause = str(error.get("Cause", ""))
    try:
        message = json.loads(cause).get("errorMessage", cause)
    except (ValueError, AttributeError):
        message = cause
    return {"type": error.get("Error"), "message": str(message)[:1000]}
