"""The text of each kind of notification, rendered in the reader's language at display time."""
from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crm.fieldspec import pick_label

OWNER = "owner_assigned"
ASSIGNED = "assigned"
REQUEST_ASSIGNED = "request_assigned"
REQUEST_STATUS = "request_status"
REQUEST_DONE = "request_done"

TEXTS = {
    OWNER: gettext_noop("%(actor)s made you the owner of %(record)s"),
    ASSIGNED: gettext_noop("%(actor)s assigned %(record)s to you"),
    REQUEST_ASSIGNED: gettext_noop("Your request %(record)s was assigned to %(assignee)s"),
    REQUEST_STATUS: gettext_noop("Your request %(record)s moved to %(status)s"),
    REQUEST_DONE: gettext_noop("Your request %(record)s is done"),
}


def render(notification) -> str:
    template = TEXTS.get(notification.kind)
    if template is None:
        return _("Something changed on a record")
    params = {"actor": str(notification.actor) if notification.actor else _("Someone"),
              "record": "", "assignee": "", "status": ""}
    params.update(notification.params or {})
    if "status_en" in params:
        params["status"] = pick_label(params["status_en"], params.get("status_zh", ""))
    return _(template) % params
