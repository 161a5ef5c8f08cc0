"""Celery tasks carry the tenant seal's binding (docs/security.md, "Tenant seal").

Publishing a task inside a binding (a request, another task) adds the organisation's id to the
message's headers; the task runs with that organisation bound and nothing else, restored in a
finally (a worker's connection serves the next task). A task published with nothing bound (by
beat) runs with nothing bound: a sweep over organisations says so with `seal.each_org()`.
"""
from __future__ import annotations

from typing import Any

from celery import Task

from . import seal

HEADER = "seal_org"


def _org_of(request: Any) -> int | None:
    value = getattr(request, HEADER, None)  # a worker's request has the headers as attributes
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(HEADER)  # an eager run keeps them apart
    return int(value) if value else None


class SealedTask(Task):
    def apply_async(self, args=None, kwargs=None, task_id=None, producer=None, link=None, link_error=None,
                    shadow=None, **options):
        org_id = seal.current_org_id()
        if org_id is not None:
            options["headers"] = {**(options.get("headers") or {}), HEADER: org_id}
        return super().apply_async(args, kwargs, task_id=task_id, producer=producer, link=link,
                                   link_error=link_error, shadow=shadow, **options)

    def __call__(self, *args, **kwargs):
        if self.request.called_directly:  # a plain function call: the caller's binding stands
            return super().__call__(*args, **kwargs)
        with seal.bound(_org_of(self.request)):
            return super().__call__(*args, **kwargs)
