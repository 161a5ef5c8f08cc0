from __future__ import annotations

from typing import Any, Callable

from django import template
from django.utils.translation import gettext_lazy as _

register = template.Library()

KIND_LABELS = {
    "created": _("Created"), "updated": _("Updated"), "deleted": _("Moved to the recycle bin"),
    "restored": _("Restored"), "owner_changed": _("Owner changed"), "note_added": _("Note added"),
    "note_edited": _("Note edited"), "note_deleted": _("Note deleted"), "attachment_added": _("File attached"),
    "attachment_deleted": _("File removed"), "refused": _("Change refused"), "locked": _("Locked"),
    "unlocked": _("Unlocked"), "lock_overridden": _("Lock overridden"), "shared": _("Shared"),
    "unshared": _("Sharing removed"),
    "email_sent": _("E-mail sent"),  # by a workflow rule (automation)
    "transition": _("Blueprint transition"), "blueprint_entered": _("Entered a blueprint"),
    "blueprint_left": _("Left a blueprint"),  # blueprints
    # review processes (reviews)
    "review_opened": _("Put under review"), "review_resubmitted": _("Resubmitted for review"),
    "review_field_reviewed": _("Field reviewed"), "review_field_corrected": _("Field corrected in review"),
    "review_field_rejected": _("Field rejected in review"), "review_approved": _("Review approved"),
    "review_rejected": _("Rejected in review"),
    "merged": _("Merged"), "merged_into": _("Merged into another record"),  # duplicates (dedupe)
}
# How a change was made (TimelineEntry.path); unknown paths show as stored.
PATH_LABELS = {
    "page": _("on the page"), "inline": _("by inline edit"), "bulk": _("by bulk edit"), "api": _("through the API"),
    "import": _("by import"), "merge": _("by merging duplicates"), "rule": _("by a rule"), "system": _("by the system"),
}
EXTRA_LABELS = {"owner": _("Owner"), "file": _("File"), "related": _("Related to"), "action": _("Action"),
                "reason": _("Reason"), "rule": _("Lock rule"), "shared_with": _("Shared with"),
                "access": _("Access"), "email_to": _("To"), "email_subject": _("Subject"),
                "transition": _("Transition"), "blueprint": _("Blueprint"), "checklist": _("Checklist"),
                "signoff": _("Sign-off"), "via": _("Through"),
                "review": _("Review"), "field": _("Field"), "merged": _("Merged records"),
                "merged_into": _("Merged into")}

# Values an app stores language-neutral in its entries' changes (a pool's recycle reason as
# {"code": ..., "days": 30}): per entry kind, how a value reads for the viewer, value(key, stored).
KIND_VALUES: dict[str, Callable[[str, Any], Any]] = {}


@register.filter
def timeline_kind(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


@register.filter
def timeline_path(path: str) -> str:
    return PATH_LABELS.get(path, path)


def _show(spec: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return value.get("name", "")
    if spec is None:
        return value
    ftype = spec.field_type
    try:
        return ftype.display(ftype.from_json(value), spec)
    except (TypeError, ValueError):
        return value


@register.filter
def timeline_changes(entry: Any, fields: Any) -> list[tuple[str, str, Any, Any]]:
    """(key, label, old, new) for display, with values shown as the field shows them.
    `fields` are the specs the viewer may see: changes to other fields (hidden from this
    viewer, or retired) are left out."""
    by_key = {spec.key: spec for spec in fields or []}
    value = KIND_VALUES.get(entry.kind)
    rows = []
    for key, pair in entry.changes.items():
        spec = by_key.get(key)
        if spec is None and key not in EXTRA_LABELS:
            continue
        label = spec.label if spec is not None else EXTRA_LABELS.get(key, key)
        old, new = (pair + [None, None])[:2] if isinstance(pair, list) else (None, pair)
        if value is not None and spec is None:
            old, new = value(key, old), value(key, new)
        if key == "access" and spec is None:  # a share's level, stored as its code
            old, new = _access_label(old), _access_label(new)
        rows.append((key, label, _show(spec, old), _show(spec, new)))
    return rows


def _access_label(value: Any) -> Any:
    from access.models import SharingRule

    return SharingRule.Access(value).label if value in SharingRule.Access.values else value


@register.simple_tag
def form_token() -> str:
    """A hidden one-time token for a form that creates something (see crm.form_tokens)."""
    from django.utils.html import format_html

    from crm.form_tokens import FIELD, new_token

    return format_html('<input type="hidden" name="{}" value="{}">', FIELD, new_token())
