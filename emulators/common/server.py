"""Run a WSGI app on 127.0.0.1 in a background thread (emulators, the local gateway, moto's process).

Served by waitress, not werkzeug's development server: werkzeug's closes the connection after every response, so
each request from a pooled client (botocore, requests, urllib3) opened a new TCP connection and the server a new
thread for it, as neither AWS nor Intuit make their callers do. On the local stack that was about 0.7 ms of CPU a
request, client and server together (a DynamoDB GetItem through moto's server: 1.85 ms of server CPU with werkzeug,
1.37 ms with waitress; the client 1.15 against 0.90 ms), paid by every call of every company on the same two cores
(issue 12's fairness benchmark, docs/benchmarks.md). Waitress keeps connections alive and serves them from a pool
of threads (decision 57)."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import WSGITask
from waitress.wasyncore import close_all

# Requests served at once. Some wait for long: moto's Step Functions hands each Lambda task to its own server and
# waits for the answer, and a gateway request waits for its handler; more wait in the queue, none is refused.
THREADS = 64

# Connections kept open at once. Every execution environment's botocore pool keeps up to ten to moto, so the
# fairness benchmark's 32 environments with the stack's own clients passed waitress's default of 100: it stopped
# accepting, callers timed out, and a sync run failed. Idle ones close after CHANNEL_TIMEOUT_S.
CONNECTION_LIMIT = 2000
CHANNEL_TIMEOUT_S = 60

# "Task queue depth is N" whenever requests wait for a thread: the waiting is what a benchmark measures, not news.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)


SOCKET_KEY = "emulator.socket"  # the request's socket, for an emulator's injected dropped connection


class _Task(WSGITask):
    def get_environment(self):
        environ = super().get_environment()
        environ[SOCKET_KEY] = self.channel.socket
        return environ


class _Channel(HTTPChannel):
    task_class = _Task


@dataclass
class RunningServer:
    server: object = field(repr=False)  # waitress's TcpWSGIServer
    thread: threading.Thread = field(repr=False)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Close the listening socket and every open connection, then the threads (those still answering are
        daemons, left to finish on their own)."""
        server = self.server
        server.task_dispatcher.shutdown(timeout=1)  # type: ignore[attr-defined]
        close_all(server._map, ignore_all=True)  # type: ignore[attr-defined]
        self.thread.join(timeout=5)


def _loop(server) -> None:
    try:
        server.run()
    except (OSError, ValueError):  # the loop polled a socket that stop() closed meanwhile
        if server._map:
            raise


def start(app, port: int = 0, host: str = "127.0.0.1", threads: int = THREADS) -> RunningServer:
    """Start `app` on host:port (0 = a free port) and return once it accepts connections."""
    server = create_server(app, host=host, port=port, threads=threads, ident="", clear_untrusted_proxy_headers=True,
                           connection_limit=CONNECTION_LIMIT, channel_timeout=CHANNEL_TIMEOUT_S,
                           asyncore_use_poll=True)  # select() stops at 1,024 descriptors
    server.channel_class = _Channel  # type: ignore[union-attr]
    bound = server.effective_port  # type: ignore[union-attr]
    thread = threading.Thread(target=_loop, args=(server,), name=f"wsgi-{bound}", daemon=True)
    thread.start()
    return RunningServer(server, thread, int(bound))  # type: ignore[arg-type]


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` so a crash mid-write leaves the previous state file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


class StateFile:
    """An emulator's optional persistence: restore at start, save in the background when the state's version moved,
    and once more on close. `snapshot()` returns (version, text) under the state's own lock."""

    def __init__(self, path: str | None, snapshot: Callable[[], tuple[int, str]], interval_s: float, name: str):
        self.path = Path(path) if path else None
        self._snapshot = snapshot
        self._saved_version = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._interval, self._name = interval_s, name

    def restore(self, load: Callable[[bytes], int]) -> None:
        """Load the file if there is one (`load` returns the restored version), then start saving."""
        if self.path is None:
            return
        if self.path.exists():
            self._saved_version = load(self.path.read_bytes())
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def save(self) -> None:
        if self.path is None:
            return
        version, text = self._snapshot()
        if version == self._saved_version:
            return
        write_atomically(self.path, text)
        self._saved_version = version

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self.save()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.save()
