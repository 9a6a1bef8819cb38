"""`qbsync demo --desktop` (README, Stable surfaces): the Online demo, then the Desktop path, both checked."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_demo_with_desktop_passes_and_shows_web_connector_sessions():
    done = subprocess.run([sys.executable, "-m", "qbsync.cli", "demo", "--size", "12", "--desktop"],
                          capture_output=True, text=True, timeout=900, env={**os.environ})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "D3. Web Connector session 1:" in done.stdout and "Demo passed" in done.stdout
