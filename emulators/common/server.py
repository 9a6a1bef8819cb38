"""Run a WSGI app on 127.0.0.1 in a background thread (emulators, local gateway)."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from werkzeug.serving import BaseWSGIServer, make_server


@dataclass
class RunningServer:
    server: BaseWSGIServer
    thread: threading.Thread = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start(app, port: int = 0, host: str = "127.0.0.1") -> RunningServer:
    """Start `app` threaded on host:port (0 = a free port) and return once it accepts connections."""
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"wsgi-{server.server_port}", daemon=True)
    thread.start()
    return RunningServer(server, thread)


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
