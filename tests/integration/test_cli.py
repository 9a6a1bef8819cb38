"""The stable command-line surfaces (README, ARCHITECTURE "Stable surfaces"), run as a user runs them."""

import json
import os
import signal
import subprocess
import sys

import pytest
import requests

pytestmark = pytest.mark.integration


def _qbsync(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "qbsync.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def test_local_prints_one_ready_line_with_working_urls_and_stops_on_sigterm(tmp_path):
    proc = _qbsync("local", "--port", "0", "--state-dir", str(tmp_path))
    try:
        urls = json.loads(proc.stdout.readline())
        assert set(urls) == {"gateway", "quickbooks", "fieldservice", "aws"}
        discovery = requests.get(f"{urls['quickbooks']}/.well-known/openid_configuration", timeout=10)
        assert discovery.status_code == 200 and discovery.json()["token_endpoint"].startswith(urls["quickbooks"])
        assert requests.get(f"{urls['gateway']}/nowhere", timeout=10).status_code == 404
        assert requests.get(f"{urls['gateway']}/admin/connection", timeout=10).status_code == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("which", ["quickbooks", "fieldservice"])
def test_each_emulator_runs_alone(which):
    proc = _qbsync("emulator", which, "--port", "0")
    try:
        ready = json.loads(proc.stdout.readline())
        assert requests.get(f"{ready['url']}/_emulator/requests", timeout=10).status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_demo_passes_end_to_end():
    done = subprocess.run([sys.executable, "-m", "qbsync.cli", "demo", "--size", "30"], capture_output=True,
                          text=True, timeout=600, env={**os.environ})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Demo passed" in done.stdout
