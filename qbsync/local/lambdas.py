"""Runs the real handlers in-process, as Lambda would: by handler path, with a Lambda-like context."""

from __future__ import annotations

import importlib
import io
import sys
import threading
import time
import traceback
import tracemalloc
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
_inside = threading.local()


class LambdaOutput(io.TextIOBase):
    """Where a Lambda's stdout goes on AWS (its log stream), kept apart from the console here: writes made while a
    handler runs on this thread go to the log file, everything else to the console as before."""

    def __init__(self, console, log):
        self.console, self.log = console, log

    def write(self, text: str) -> int:
        target = self.log if getattr(_inside, "active", False) else self.console
        return target.write(text)

    def flush(self) -> None:
        self.console.flush()
        self.log.flush()


def send_output_to(log_path: str) -> None:
    """Handlers' logs, metrics and unhandled errors go to `log_path`, like CloudWatch Logs for a deployed function."""
    with _lock:
        if isinstance(sys.stdout, LambdaOutput):
            sys.stdout.log = open(log_path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives with the stack
            return
        sys.stdout = LambdaOutput(sys.stdout, open(log_path, "a", encoding="utf-8", buffering=1))  # noqa: SIM115


def resolve(handler_path: str):
    """'functions.oauth.handler.handler' -> the callable (imported once, like a warm container)."""
    with _lock:
        if handler_path not in _cache:
            module, _, attr = handler_path.rpartition(".")
            _cache[handler_path] = getattr(importlib.import_module(module), attr)
        return _cache[handler_path]


@dataclass
class Meter:
    """Per-function figures for the benchmark: invocations, CPU seconds of the invoking thread (our code, not the
    emulators' or moto's threads) and, when tracing, how far the Python heap grew during an invocation."""

    enabled: bool = False
    trace_memory: bool = False
    invocations: dict[str, int] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)
    peak_bytes: dict[str, int] = field(default_factory=dict)

    def record(self, name: str, cpu_s: float, peak: int) -> None:
        with _lock:
            self.invocations[name] = self.invocations.get(name, 0) + 1
            self.cpu_s[name] = self.cpu_s.get(name, 0.0) + cpu_s
            self.peak_bytes[name] = max(self.peak_bytes.get(name, 0), peak)


METER = Meter()


def _run(fn, event, name: str):
    _inside.active = True
    try:
        return fn(event, LambdaContext(name))
    except Exception:
        traceback.print_exc(file=sys.stdout)  # the runtime writes an unhandled error to the function's log
        raise
    finally:
        _inside.active = False


def invoke(handler_path: str, event, function_name: str | None = None):
    fn = resolve(handler_path)
    name = function_name or handler_path.split(".")[1]
    if not METER.enabled:
        return _run(fn, event, name)
    baseline = 0
    if METER.trace_memory:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
    started = time.thread_time()
    try:
        return _run(fn, event, name)
    finally:
        # Growth over what the process already held (the emulators' and moto's data), not the process's total.
        peak = tracemalloc.get_traced_memory()[1] - baseline if METER.trace_memory else 0
        METER.record(name, time.thread_time() - started, peak)
