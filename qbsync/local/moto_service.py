"""moto, the local stack's AWS: in the stack's own process (the test suites, which replace handlers' collaborators
in-process), or in a process of its own (`LocalStack(sandboxes=N)`, what the fairness benchmarks use).

Why a process of its own: DynamoDB, SQS and Step Functions are services apart from the Lambda functions on AWS, and
in one interpreter every DynamoDB query of one company waited for the interpreter's lock behind every other
thread: the emulators, the gateway, the hints poller, the benchmark itself. A py-spy profile of the stack process
during the webhook fairness burst put moto at over a third of it (issue 12, docs/benchmarks.md).

Either way Step Functions' Lambda tasks reach the handlers through `lambdas.invoke` in the stack's process, so an
invocation runs where every other does (its threads, or its execution environments): the process serving moto
hands each invocation back over a local socket (multiprocessing.connection, authenticated) and waits for its answer.
It is a new interpreter (`python -m qbsync.local.moto_service`), for the reason lambdas.Sandboxes gives; it ends
when the stack stops it, or when the stack's process is gone."""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from qbsync.local import moto_fidelity

Invoke = Callable[[str, dict, str], Any]  # (handler path, event, function name) -> the handler's answer
Answer = Callable[[str, Any, str], tuple[str, bool, str]]  # the same -> what moto's Lambda hands Step Functions
COUNTERS_PATH = "/_qbsync/dynamodb-served"  # the DynamoDB calls moto served, for benchmarks (moto_fidelity.calls)


def lambda_answer(invoke: Invoke, handler: str, event, function_name: str) -> tuple[str, bool, str]:
    """What moto's Lambda hands Step Functions for one invocation: the answer, or the error as the Lambda runtime
    reports it (its type's name, which Retry and Catch match, and its message)."""
    payload = json.loads(event) if isinstance(event, str | bytes) else (event or {})
    try:
        return json.dumps(invoke(handler, payload, function_name), default=str), False, ""
    except Exception as exc:  # noqa: BLE001 - reported to Step Functions as the Lambda runtime would
        return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}), True, ""


def _patch_moto(answer: Answer) -> None:
    """AWS's behaviour where moto differs (moto_fidelity), and moto's Lambda answered by `answer`: moto would run
    the code in Docker."""
    from moto.awslambda.models import LambdaFunction
    from moto.core.config import default_user_config

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    moto_fidelity.serialize_dynamodb()
    moto_fidelity.cache_backend_names()
    moto_fidelity.item_backups_per_transaction()
    moto_fidelity.partition_queries()
    moto_fidelity.plain_sqs_clock()
    moto_fidelity.snapshot_sqs_groups()

    def _invoke(self, event=None):
        return answer(self.handler, event, self.function_name)

    LambdaFunction._invoke_lambda = _invoke


def served() -> dict:
    return {"calls": dict(moto_fidelity.calls), "served_s": moto_fidelity.served_s[0],
            "waited_s": moto_fidelity.waited_s[0], "longest_wait_s": moto_fidelity.waited_s[1],
            "slowest": sorted(moto_fidelity.slowest, reverse=True)}


class InProcessMoto:
    """moto's server on a thread of this process."""

    def __init__(self, port: int, invoke: Invoke):
        from moto.server import ThreadedMotoServer

        _patch_moto(functools.partial(lambda_answer, invoke))
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()
        host, bound = self._server.get_host_and_port()
        self.url, self.port = f"http://{host}:{bound}", bound
        os.environ["MOTO_PORT"] = str(bound)  # moto's Step Functions calls Lambda through its own server

    def served(self) -> dict:
        return served()

    def stop(self) -> None:
        import requests

        # moto keeps its backends in the process, not in the server: forget them, so a later stack in the same
        # process (the next test module) starts from nothing, as a fresh account would.
        requests.post(f"{self.url}/moto-api/reset", timeout=10)
        self._server.stop()


class MotoProcess:
    """moto's server in a process of its own; its Lambda invocations come back here to `invoke`."""

    def __init__(self, port: int, invoke: Invoke):
        from multiprocessing.connection import Listener

        self._invoke = invoke
        self._dir = tempfile.TemporaryDirectory(prefix="qbsync-moto-")
        key = secrets.token_bytes(32)
        self._listener = Listener(f"{self._dir.name}/lambda.sock", family="AF_UNIX", authkey=key)
        threading.Thread(target=self._accept, name="moto-lambda-accept", daemon=True).start()
        command = [sys.executable, "-m", "qbsync.local.moto_service", str(port), str(self._listener.address)]
        # Our own interpreter and module, with arguments we built: nothing from outside reaches the command.
        self._process = subprocess.Popen(command, env={**os.environ, "QBSYNC_LAMBDA_KEY": key.hex()},  # noqa: S603
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()  # the one line it writes: its URL, once it is serving
        if not line.startswith("http://"):
            self._process.kill()
            raise RuntimeError(f"moto's process did not start (exit {self._process.wait()})")
        self.url, self.port = line, int(line.rsplit(":", 1)[1])

    def _accept(self) -> None:
        while True:
            try:
                conn = self._listener.accept()
            except OSError:  # the listener is closed: the stack is stopping
                return
            threading.Thread(target=self._serve, args=(conn,), name="moto-lambda", daemon=True).start()

    def _serve(self, conn) -> None:
        """One of moto's threads' invocations, one after another, each answered as moto's Lambda hands it on."""
        with conn:
            while True:
                try:
                    handler, event, name = conn.recv()
                except (EOFError, OSError):
                    return
                conn.send(lambda_answer(self._invoke, handler, event, name))

    def served(self) -> dict:
        import requests

        return requests.get(f"{self.url}{COUNTERS_PATH}", timeout=10).json()

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)
        self._listener.close()
        self._dir.cleanup()


def _forwarder(address: str, key: bytes) -> Answer:
    """In moto's process: an invocation handed to the stack's process, on one connection per moto thread (a Step
    Functions execution's task waits for its answer; other executions go on)."""
    from multiprocessing.connection import Client

    local = threading.local()

    def answer(handler: str, event, function_name: str) -> tuple[str, bool, str]:
        if getattr(local, "conn", None) is None:
            local.conn = Client(address, family="AF_UNIX", authkey=key)
        local.conn.send((handler, event, function_name))
        return local.conn.recv()

    return answer


def _with_counters(app):
    """moto's WSGI app, and one route of ours: the DynamoDB calls served in this process."""

    def wsgi(environ, start_response):
        if environ.get("PATH_INFO") == COUNTERS_PATH:
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(served()).encode()]
        return app(environ, start_response)

    return wsgi


def _serve(port: int, address: str) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request; LocalStack.start does the same
    _patch_moto(_forwarder(address, bytes.fromhex(os.environ.pop("QBSYNC_LAMBDA_KEY"))))
    server = make_server("127.0.0.1", port, _with_counters(DomainDispatcherApplication(create_backend_app)),
                         threaded=True, request_handler=MotoRequestHandler)
    bound = server.server_port
    os.environ["MOTO_PORT"] = str(bound)  # moto's Step Functions calls Lambda through its own server
    parent = os.getppid()
    threading.Thread(target=server.serve_forever, name="moto", daemon=True).start()
    print(f"http://127.0.0.1:{bound}", flush=True)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - nobody reads the pipe after the first line
    while os.getppid() == parent:  # the stack's process is gone (killed): so is its AWS
        time.sleep(1)
    os._exit(0)


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2])
