"""The Desktop schedule as the Web Connector runs it: QBWC polls every N minutes from the .qwc's Scheduler and
cannot start at a time of day, so "daily at HH:MM" polls every 30 minutes and syncs at the first poll after the
day's time (Drain.sync_due). Kept apart (no storage imports) for the qbwc handler and the admin API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

RUN_EVERY_MINUTES = {"every_1h": 60, "every_2h": 120, "every_3h": 180, "daily": 30}


def next_sync_at(schedule: dict, last_session_at: datetime | None, now: datetime) -> datetime | None:
    """When the next Desktop sync should start: the connector's next poll (its last session plus the interval), or
    for a daily schedule the next time of day in the schedule's zone (the first poll after it syncs). None before
    the connector has ever polled (nothing tells us when it will)."""
    frequency = schedule.get("frequency") or "every_1h"
    if frequency == "daily" and schedule.get("time"):
        zone = ZoneInfo(schedule.get("timezone") or "UTC")
        hours, minutes = (int(part) for part in schedule["time"].split(":"))
        local = now.astimezone(zone)
        slot = local.replace(hour=hours, minute=minutes, second=0, microsecond=0)
        if slot <= local:
            slot += timedelta(days=1)
        return slot.astimezone(UTC)
    if last_session_at is None:
        return None
    interval = timedelta(minutes=RUN_EVERY_MINUTES.get(frequency, 60))
    due = last_session_at + interval
    while due <= now:  # missed polls (the machine was off): the next one on the connector's grid
        due += interval
    return due.astimezone(UTC)
