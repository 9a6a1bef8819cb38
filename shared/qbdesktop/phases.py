"""What the run history says about Desktop work (SingleOps' wording), and how Desktop runs are named. Kept apart so
the handler imports no storage."""

from shared.domain.admin import new_run_id

PENDING_PHASE = "Pending until the Web Connector runs"
RUN_MARK = "qbd-"


def desktop_run_id(kind: str) -> str:
    """The Online runs' time-ordered id with Desktop's mark in its kind (`20261202T043000-qbd-sync-1a2b3c4d`), so the
    run history, read newest first by key, lists Desktop runs in time order too."""
    return new_run_id(f"{RUN_MARK}{kind}")


def is_desktop_run(run_id: str) -> bool:
    """A Desktop run, named as above or (stored before run ids were time-ordered) `qbd-<random>`."""
    return run_id.startswith(RUN_MARK) or f"-{RUN_MARK}" in run_id
