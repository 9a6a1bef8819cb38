"""Tasks of the onboarding state machine: `{"task": name, "input": state}` in, the new state out."""

from __future__ import annotations

from functions.onboard.service import onboarding
from shared.tasks import task_handler

handler = task_handler("onboard", onboarding)
