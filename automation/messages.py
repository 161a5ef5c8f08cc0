"""The text of each kind of notification, rendered in the reader's language at display time."""
from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from crm.fieldspec import pick_label

OWNER = "owner_assigned"
ASSIGNED = "assigned"
MENTIONED = "mentioned"
REQUEST_ASSIGNED = "request_assigned"
REQUEST_STATUS = "request_status"
REQUEST_DONE = "request_done"
RULE_NOTICE = "rule_notice"  # sent by workflow rules: params {"record", "rule", "message"}

TEXTS = {
    OWNER: gettext_noop("%(actor)s made you the owner of %(record)s"),
    ASSIGNED: gettext_noop("%(actor)s assigned %(record)s to you"),
    MENTIONED: gettext_noop("%(actor)s mentioned you in a note on %(record)s"),
    REQUEST_ASSIGNED: gettext_noop("Your request %(record)s was assigned to %(assignee)s"),
    REQUEST_STATUS: gettext_noop("Your request %(record)s moved to %(status)s"),
    REQUEST_DONE: gettext_noop("Your request %(record)s is done"),
    RULE_NOTICE: gettext_noop("%(rule)s on %(record)s: %(message)s"),
}
RULE_NOTICE_BARE = gettext_noop("%(rule)s on %(record)s")

# The kinds a user sets a preference for, in the order the preferences page lists them.
KIND_LABELS = {
    OWNER: gettext_lazy("A record is given to me (owner)"),
    ASSIGNED: gettext_lazy("A record is assigned to me"),
    MENTIONED: gettext_lazy("Someone mentions me in a note"),
    REQUEST_ASSIGNED: gettext_lazy("My request is assigned"),
    REQUEST_STATUS: gettext_lazy("My request changes status"),
    REQUEST_DONE: gettext_lazy("My request is done"),
    RULE_NOTICE: gettext_lazy("A workflow rule notifies me"),
}


def render(notification) -> str:
    template = TEXTS.get(notification.kind)
    if template is None:
        return _("Something changed on a record")
    params = {"actor": str(notification.actor) if notification.actor else _("Someone"),
              "record": "", "assignee": "", "status": "", "rule": "", "message": ""}
    params.update(notification.params or {})
    if "status_en" in params:
        params["status"] = pick_label(params["status_en"], params.get("status_zh", ""))
    if "message_en" in params:  # a rule's message written in both languages
        params["message"] = pick_label(params["message_en"], params.get("message_zh", ""))
    if notification.kind == RULE_NOTICE and not params["message"]:
        template = RULE_NOTICE_BARE
    return _(template) % params


def path(notification) -> str:
    """Where the notification leads: its record (at the note, for a mention)."""
    url = reverse("crm:detail", args=[notification.module, notification.record_id])
    note = (notification.params or {}).get("note")
    return f"{url}#note-{note}" if isinstance(note, int) else url
