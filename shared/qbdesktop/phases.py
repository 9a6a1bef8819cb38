"""What the run history says about Desktop work (SingleOps' wording). Kept apart so the handler imports no storage."""

PENDING_PHASE = "Pending until the Web Connector runs"
