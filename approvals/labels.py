"""The words approvals adds to shared pages: notification texts and the timeline's entry kinds."""
from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from .tasks import APPROVED, RECALLED, REJECTED, REQUESTED

NOTICE_TEXTS = {
    REQUESTED: gettext_noop("%(actor)s asks for your approval of %(record)s (%(process)s)"),
    APPROVED: gettext_noop("%(record)s was approved (%(process)s)"),
    REJECTED: gettext_noop("%(record)s was rejected (%(process)s): %(message)s"),
    RECALLED: gettext_noop("The approval of %(record)s was recalled (%(process)s)"),
}
NOTICE_KINDS = {
    REQUESTED: _("A record awaits my approval"),
    APPROVED: _("A record I submitted is approved"),
    REJECTED: _("A record I submitted is rejected"),
    RECALLED: _("An approval I was asked for is recalled"),
}
TIMELINE_KINDS = {
    "approval_submitted": _("Submitted for approval"),
    "approval_step_approved": _("Approved a step"),
    "approval_level_opened": _("Next approval level"),
    "approval_approved": _("Approved"),
    "approval_rejected": _("Rejected"),
    "approval_delegated": _("Approval delegated"),
    "approval_recalled": _("Approval recalled"),
    "approval_taken_over": _("Approval step taken over"),
}
TIMELINE_FIELDS = {
    "approval": _("Approval process"), "level": _("Level"), "comment": _("Comment"), "approvers": _("Approvers"),
    "delegated_to": _("Delegated to"), "decision": _("Decision"),
}


def register_timeline_labels() -> None:
    from crm.templatetags.crm_tags import EXTRA_LABELS, KIND_LABELS

    for key, label in TIMELINE_KINDS.items():
        KIND_LABELS.setdefault(key, label)
    for key, label in TIMELINE_FIELDS.items():
        EXTRA_LABELS.setdefault(key, label)
