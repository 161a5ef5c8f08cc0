"""Celery tasks carry the tenant seal's binding (docs/security.md, "Tenant seal").

Publishing a task inside a binding (a request, another task) adds the organisation's id to the
message's headers; the task runs with that organisation bound and nothing else, restored in a
finally (a worker's connection serves the next task). A task published with nothing bound (by
beat) runs with nothing bound: a sweep over organisations says so with `seal.each_org()`.

Faults (docs/operations.md): a job the broker refuses (Redis down) is kept in the database with
its organisation and sent again by beat (access.tasks.send_unsent), so the caller's write stands
and no job is lost. A task that loses the database (a restart) is retried with a growing delay;
the tasks are written to be run twice.
"""
from __future__ import annotations

import uuid
from typing import Any

from celery import Task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerDown

from . import seal

HEADER = "seal_org"


def _org_of(request: Any) -> int | None:
    value = getattr(request, HEADER, None)  # a worker's request has the headers as attributes
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(HEADER)  # an eager run keeps them apart
    return int(value) if value else None


class SealedTask(Task):
    autoretry_for = (OperationalError, InterfaceError)  # the database went away: try again later
    retry_backoff = 2
    retry_backoff_max = 120
    max_retries = 12

    def apply_async(self, args=None, kwargs=None, task_id=None, producer=None, link=None, link_error=None,
                    shadow=None, keep_unsent=True, **options):
        org_id = seal.current_org_id()
        if org_id is not None:
            options["headers"] = {**(options.get("headers") or {}), HEADER: org_id}
        task_id = task_id or str(uuid.uuid4())
        try:
            return super().apply_async(args, kwargs, task_id=task_id, producer=producer, link=link,
                                       link_error=link_error, shadow=shadow, **options)
        except BrokerDown:
            if not keep_unsent or producer is not None:  # beat passes its producer: its next tick sends again
                raise
            from .unsent import do_keep

            do_keep(self.name, task_id, args, kwargs, org_id, options)
            return self.AsyncResult(task_id)

    def __call__(self, *args, **kwargs):
        if self.request.called_directly:  # a plain function call: the caller's binding stands
            return super().__call__(*args, **kwargs)
        with seal.bound(_org_of(self.request)):
            return super().__call__(*args, **kwargs)

