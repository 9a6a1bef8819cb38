"""`qbsync emulator qbdesktop` prints one ready line and stops on a signal (README, Stable surfaces)."""

import json
import signal
import subprocess
import sys

import pytest
import requests

pytestmark = pytest.mark.integration


def test_the_desktop_emulator_runs_alone_and_prints_its_url():
    proc = subprocess.Popen([sys.executable, "-m", "qbsync.cli", "emulator", "qbdesktop", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = json.loads(proc.stdout.readline())
        state = requests.get(f"{ready['url']}/_emulator/state", timeout=10)
        assert state.status_code == 200 and state.json()["lists"]["Customer"] == []
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
