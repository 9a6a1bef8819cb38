"""Runs the real handlers in-process, as Lambda would: by handler path, with a Lambda-like context."""

from __future__ import annotations

import importlib
import threading
import time
import uuid
from dataclasses import dataclass, field


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 512
    timeout_s: int = 300
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    function_version: str = "$LATEST"
    _start: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self._start)) * 1000))


_lock = threading.Lock()
_cache: dict[str, object] = {}


def resolve(handler_path: str):
    """'functions.oauth.handler.handler' -> the callable (imported once, like a warm container)."""
    with _lock:
        if handler_path not in _cache:
            module, _, attr = handler_path.rpartition(".")
            _cache[handler_path] = getattr(importlib.import_module(module), attr)
        return _cache[handler_path]


def invoke(handler_path: str, event, function_name: str | None = None):
    fn = resolve(handler_path)
    return fn(event, LambdaContext(function_name or handler_path.split(".")[1]))
