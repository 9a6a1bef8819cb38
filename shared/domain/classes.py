"""Job types -> QuickBooks classes (WORK seed, Job Types tab): per job type a chosen class, "Create New Job Class"
(found by name first, created once), or None; with "always create a class for each new job type", a job type
without a mapping gets its own class too. Where the class goes on an invoice (header, lines) follows the company's
preferences (`ClassTrackingPerTxn`, `ClassTrackingPerTxnLine`), in the money path."""

from __future__ import annotations

from collections.abc import Sequence

from shared.domain.onboarding import request_id
from shared.domain.records import Link
from shared.domain.run_log import RunLog
from shared.fieldservice.models import JobType
from shared.quickbooks.port import ClassDraft

CLASS_NAME_MAX = 100  # Class.Name


def class_name(job_type_name: str) -> str:
    return " ".join(job_type_name.replace(":", "-").split())[:CLASS_NAME_MAX]


class JobTypeClasses:
    def __init__(self, deps, log: RunLog):
        self.d, self.log = deps, log

    def class_for(self, job_type_id: str | None) -> str | None:
        settings = self.d.settings.job_types
        if not job_type_id or not settings.enabled:
            return None
        mapping = settings.class_mapping.get(job_type_id)
        mode = mapping.mode if mapping is not None else ("create" if settings.always_create_class else "none")
        if mode == "class":
            return mapping.class_id if mapping is not None else None
        if mode == "none":
            return None
        link = self.d.links.get(self.d.tenant_id, "class", job_type_id)
        if link is not None and link.qbo_id:
            return link.qbo_id
        return self._create(self.d.platform.get_job_type(self.d.tenant_id, job_type_id))

    def new_job_types(self, job_types: Sequence[JobType]) -> None:
        """"Always create": each new job type gets its class when it appears, not when its first invoice syncs."""
        settings = self.d.settings.job_types
        if not (settings.enabled and settings.always_create_class):
            return
        todo = [jt for jt in job_types if jt.active and jt.id not in settings.class_mapping]
        links = self.d.links.get_many(self.d.tenant_id, "class", [jt.id for jt in todo])
        for job_type in todo:
            if job_type.id not in links:
                self._create(job_type)

    def _create(self, job_type: JobType) -> str:
        name = class_name(job_type.name)
        qb = self.d.quickbooks()
        found = qb.classes_named([name])
        if found:
            qbo_id = found[0].qbo_id
            self.log.count("classes_matched")
        else:
            rid = request_id(self.d.tenant_id, "class", job_type.id)
            qbo_id = qb.create_class(ClassDraft(name), request_id=rid)
            self.log.count("classes_created_in_quickbooks")
        self.d.links.put(Link(self.d.tenant_id, "class", job_type.id, qbo_id))
        return qbo_id
