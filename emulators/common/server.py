"""Run a WSGI app on 127.0.0.1 in a background thread (emulators, local gateway)."""

from __future__ import annotations

import os
import tempfile
import threading
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
