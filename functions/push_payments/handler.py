"""Sync-run tasks (push payments): `{"task": name, "input": state}` in, the new state out (see docs/infra.md)."""

from __future__ import annotations

from functions.push_invoices.service import sync
from shared.tasks import task_handler

handler = task_handler("push-payments", sync)
