"""An emulator in a process of its own (`qbsync emulator NAME`), for `LocalStack(sandboxes=N)`: QuickBooks and the
platform are systems apart from ours, and in the stack's process every request a benchmark or the product made of
them waited for one interpreter's lock behind moto, the gateway and each other (issue 12, docs/benchmarks.md).

The stack then reaches them only as the product and the outside checks do: over HTTP, their control APIs included
(docs/emulator-quickbooks.md, docs/fieldservice.md, docs/emulator-qbdesktop.md)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading


class EmulatorProcess:
    def __init__(self, which: str, port: int, state_file: str | None):
        command = [sys.executable, "-m", "qbsync.cli", "emulator", which, "--port", str(port),
                   "--exit-with-parent"]
        if state_file:
            command += ["--state-file", state_file]
        # Our own interpreter and module, with arguments we built: nothing from outside reaches the command.
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,  # noqa: S603
                                         text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # its first line says where it serves, once it does
        try:
            self.url = json.loads(line)["url"]
        except (ValueError, KeyError):
            self._process.kill()
            raise RuntimeError(f"the {which} emulator did not start (exit {self._process.wait()})") from None
        # Anything it writes later is read and dropped, so a full pipe never stops it.
        threading.Thread(target=self._process.stdout.read, name=f"{which}-stdout", daemon=True).start()

    def stop(self) -> None:
        """SIGTERM: it stops serving and saves its state file, as `qbsync emulator` does on a signal."""
        self._process.terminate()
        self._process.wait(timeout=15)
