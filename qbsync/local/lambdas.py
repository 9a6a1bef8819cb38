"""Runs the real handlers as Lambda would: by handler path, with a Lambda-like context; in this process's threads
(the default), or each invocation in one of a pool of processes that stand for Lambda's execution environments
(`Sandboxes`, `LocalStack(sandboxes=N)`)."""

from __future__ import annotations

import importlib
import io
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import tracemalloc
import uuid
from dataclasses import dataclass, field
from typing import Any


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


class Sandboxes:
    """Lambda's execution environments as processes: each invocation runs in a process of its own, one invocation
    at a time per process, warm processes reused (their imports and clients kept, as a warm container's are), up to
    `size` at once; an invocation arriving when all are busy waits for one.

    Why: on Lambda, one company's invocations share no interpreter with another's. In this process's threads every
    invocation of every company waits for one interpreter (its global lock) behind the others, the emulators and
    moto; a benchmark of fairness between companies then measures that lock, not the product (issues 12 and 15).
    The cost: a process per environment (about 100 MB each); in-process test doubles (monkeypatching a handler's
    collaborators) do not reach these processes, so the test suites keep the default.

    Each environment is a new interpreter (`python -m qbsync.local.lambdas`), not a fork: this process runs server
    threads (moto, the emulators), and a fork copies their locks in whatever state they are in; nor multiprocessing's
    spawn, which re-runs the parent's main module (a benchmark script, pytest) in the child. It takes this process's
    environment variables when it starts, so the stack creates the pool after it has set them, and talks over a
    local socket (multiprocessing.connection, authenticated). All `size` start at once with every handler imported
    (as Lambda's provisioned concurrency would): one started in the middle of a measurement would count its own
    start (about a second of both cores) against whichever company happened to need it. The most recently used idle
    environment takes the next invocation, as Lambda reuses warm environments: a free-for-all would spread a quiet
    company's few invocations over environments that have not yet built its clients or read its token.

    An environment belongs to the function it first served, as on Lambda, where a function's environments serve only
    that function: an invocation takes its function's most recently used idle environment, else one that has served
    nothing yet, else (every environment taken) the least recently used idle one of another function, which then
    belongs to this one. Shared by every function, a burst of webhook deliveries pushed a sync run's next task into an
    environment that had never made a QuickBooks call, which then paid for the imports and clients the handlers build
    on first use (about 0.65 s of one core here, 1.7 s under load): the outliers of issue 15's fairness benchmark."""

    def __init__(self, size: int, log_path: str, handlers: list[str]):
        import secrets
        import tempfile
        from multiprocessing.connection import Listener

        self._dir = tempfile.TemporaryDirectory(prefix="qbsync-environments-")
        key = secrets.token_bytes(32)
        self._listener = Listener(f"{self._dir.name}/invoke.sock", family="AF_UNIX", authkey=key)
        self._env = {**os.environ, "QBSYNC_ENVIRONMENT_KEY": key.hex()}
        self._command = [sys.executable, "-m", "qbsync.local.lambdas", self._listener.address, log_path, *handlers]
        self._processes: list[subprocess.Popen] = []
        self._process_of: dict[Any, subprocess.Popen] = {}  # connection -> its environment's process
        self._closing = False
        self._starting = threading.Lock()
        self._unused = self._start(size)  # every handler imported, no invocation served yet
        self._idle: dict[str, list[tuple[float, Any]]] = {}  # function -> (last used, environment), oldest first
        self._free = threading.Condition()

    def _start(self, count: int) -> list:
        """`count` new environments, each connected once it has imported every handler."""
        with self._starting:
            # Our own interpreter and module, with arguments we built: nothing from outside reaches the command.
            self._processes += [subprocess.Popen(self._command, env=self._env, stdin=subprocess.DEVNULL)  # noqa: S603
                                for _ in range(count)]
            accepted = [self._listener.accept() for _ in range(count)]
            for conn in accepted:  # each environment's first message is its process id
                pid = conn.recv()
                self._process_of[conn] = next(p for p in self._processes if p.pid == pid)
            return accepted

    def _exit_status(self, conn) -> str:
        """How a dead environment's process ended, as Lambda words it ("exit status 1", "signal: killed")."""
        process = self._process_of.pop(conn, None)
        if process is None:
            return "unknown"
        try:
            code = process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "still running"
        if code < 0:
            return f"signal: {(signal.strsignal(-code) or str(-code)).lower()}"
        return f"exit status {code}"

    def _take(self, name: str):
        """An idle environment for function `name` (which one: the class's docstring), or None."""
        if own := self._idle.get(name):
            return own.pop()[1]
        if self._unused:
            return self._unused.pop()
        others = [envs for envs in self._idle.values() if envs]
        return min(others, key=lambda envs: envs[0][0]).pop(0)[1] if others else None

    def invoke(self, handler_path: str, event, name: str):
        with self._free:
            while (conn := self._take(name)) is None:
                self._free.wait()
        try:
            conn.send((handler_path, event, name))
            answer = conn.recv()
        except (EOFError, OSError) as exc:
            # The process died (as a Lambda runtime can): reported as Lambda reports it, and a new environment
            # takes its place for later invocations, unless the stack is stopping them all.
            conn.close()
            status = self._exit_status(conn)
            if self._closing:  # close() sent it SIGTERM: the stack is stopping with this invocation in flight
                logging.getLogger(__name__).warning(
                    "a %s execution environment was stopped with the stack (%s) during an invocation of %s", name,
                    status, handler_path)
            else:
                conn = self._start(1)[0]
                logging.getLogger(__name__).error("a %s execution environment exited (%s) during an invocation of %s",
                                                  name, status, handler_path)
            raise _raised("Runtime.ExitError", f"Runtime exited with error: {status} ({exc!r})") from None
        finally:
            with self._free:
                self._idle.setdefault(name, []).append((time.monotonic(), conn))
                self._free.notify()
        if METER.enabled:
            METER.record(name, answer["cpu_s"], 0)
        if "error" in answer:
            raise _raised(answer["error"]["type"], answer["error"]["message"])
        return answer["result"]

    def close(self) -> None:
        self._closing = True
        with self._starting:  # a replacement being started is in the list before the first is terminated
            processes = list(self._processes)
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
        self._listener.close()
        self._dir.cleanup()


def _serve(address: str, log_path: str, handlers: list[str]) -> None:
    """One execution environment: every handler imported, then invocations from the stack, one at a time, until it
    goes away. Its output goes to the functions' log, as a Lambda's goes to CloudWatch."""
    import warnings
    from multiprocessing.connection import Client

    sys.stdout = open(log_path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives with the process
    warnings.filterwarnings("ignore", message="No application metrics to publish")  # as LocalStack.start does
    for handler in handlers:
        resolve(handler)
    conn = Client(address, family="AF_UNIX", authkey=bytes.fromhex(os.environ.pop("QBSYNC_ENVIRONMENT_KEY")))
    conn.send(os.getpid())
    threading.Thread(target=_end_with, args=(os.getppid(),), name="environment-parent", daemon=True).start()
    while True:
        try:
            conn.send(_invoke_here(*conn.recv()))
        except (EOFError, OSError):  # the stack is gone: end at once, as Lambda ends an environment (no waiting
            sys.stdout.flush()  # for the handler's threads)
            os._exit(0)


def _end_with(parent: int) -> None:
    """An environment whose stack was killed mid-invocation ends too, instead of finishing a task for nobody."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _invoke_here(handler_path: str, event, name: str) -> dict:
    """One invocation inside an environment: the handler's answer, or its error's type name and message (Step
    Functions matches Retry and Catch on the type's name), with the CPU time the invocation took."""
    started = time.thread_time()
    try:
        result = _run(resolve(handler_path), event, name)
    except Exception as exc:  # noqa: BLE001 - handed to the invoker, which raises it as the runtime would report it
        return {"error": {"type": type(exc).__name__, "message": str(exc)}, "cpu_s": time.thread_time() - started}
    return {"result": result, "cpu_s": time.thread_time() - started}


_raised_types: dict[str, type[Exception]] = {}


def _raised(type_name: str, message: str) -> Exception:
    """An exception whose type has the name of the one the handler raised in its environment."""
    with _lock:
        kind = _raised_types.setdefault(type_name, type(type_name, (Exception,), {}))
    return kind(message)


_sandboxes: Sandboxes | None = None


def run_in(sandboxes: Sandboxes | None) -> None:
    """Invocations from now on run in `sandboxes`, or in this process's threads (None)."""
    global _sandboxes
    _sandboxes = sandboxes


def invoke(handler_path: str, event, function_name: str | None = None):
    name = function_name or handler_path.split(".")[1]
    if _sandboxes is not None:
        if METER.trace_memory:
            raise RuntimeError("memory is traced in this process's threads only: start the stack without sandboxes")
        return _sandboxes.invoke(handler_path, event, name)
    fn = resolve(handler_path)
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


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2], sys.argv[3:])
