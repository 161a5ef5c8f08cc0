"""What approvals adds to record pages, kanban cards and module settings through crm's
extension points: the approval panel under a record's title (status, who it waits on, the
approve / reject / delegate / recall / submit controls, each offered as the decision point
answers, with its reason when it refuses), a mark on cards awaiting approval, a link to the
module's processes."""
from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from access.decisions import decide, decide_each
from crm.modules import register_card_mark_provider, register_header_panel_provider, register_module_link_provider

from . import engine


def approval_panel(user: Any, schema: Any, record: Any) -> list[dict]:
    request = engine.pending_request(schema, record)
    if request is not None:
        return [{"template": "approvals/includes/record_panel.html", "approval": request,
                 "approval_message": engine.pending_message(request),
                 **request_decisions(user, schema, record, request),
                 "approval_next": reverse("crm:detail", args=[schema.key, record.pk])}]
    offered = [p for p in engine.processes(schema.org.pk, schema.key) if p.active and p.trigger == "button"]
    last = _last_closed(schema, record)
    if last is not None and last.process.active and all(p.id != last.process_id for p in offered):
        offered.append(engine.process_spec(schema.org.pk, schema.key, last.process_id))
    offered = [p for p in offered if p is not None]
    if not offered and last is None:
        return []
    edit = decide(user, record, "edit", schema=schema)
    return [{"template": "approvals/includes/record_panel.html", "approval": None, "approval_last": last,
             "approval_processes": offered, "approval_may_submit": edit.allowed,
             "approval_submit_reason": "" if edit.allowed else edit.reason}]


def request_decisions(user: Any, schema: Any, record: Any, request: Any) -> dict[str, Any]:
    """What the user may do to the record's awaiting request, from the decision point (one
    visibility query): decide it, delegate it, recall it; and whether deciding takes it over."""
    found = decide_each(user, record, {"approve": [{}, {"delegate": True}], "recall": [{}]}, schema=schema)
    decision, delegate = found["approve"]
    return {"approval_decision": decision, "approval_delegate": delegate, "approval_recall": found["recall"][0],
            "approval_takes_over": decision.allowed and engine.takes_over(user, request)}


def _last_closed(schema: Any, record: Any):
    if not engine.processes(schema.org.pk, schema.key):
        return None
    from .models import ApprovalRequest

    return (ApprovalRequest.objects.select_related("process")
            .filter(org_id=schema.org.pk, module=schema.key, record_id=record.pk).order_by("-pk").first())


def card_marks(user: Any, schema: Any, records: list[Any]) -> dict[int, list[dict]]:
    engine.preload_pending(user, schema, records)
    marks = {}
    for record in records:
        request = record.__dict__.get(engine.PENDING_ATTR)
        if request is not None:
            marks[record.pk] = [{"icon": "hourglass-split", "title": engine.pending_message(request)}]
    return marks


def module_links(user: Any, module: Any) -> list[dict]:
    from automation.configure import may_configure

    try:
        bound = module.bind(user.org)
    except Exception:
        return []
    if not may_configure(user, bound):
        return []
    return [{"label": _("Approval processes"), "url": reverse("approvals:processes", args=[module.key]),
             "icon": "check2-circle"}]


def register() -> None:
    register_header_panel_provider(approval_panel)
    register_card_mark_provider(card_marks)
    register_module_link_provider(module_links)
