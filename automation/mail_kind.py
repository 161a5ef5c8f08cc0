"""The workflow action "e-mail": a template rendered for the record and sent to chosen people.

Settings (`config`): {"template": <EmailTemplate id>, "to": {"owner": bool, "assignee": bool,
"requester": bool, "users": [user ids], "field": "<an e-mail field's key>", "addresses": ["a@x", ...]}}.
Each address gets its own e-mail (no one sees the others' addresses), queued in the rule's
transaction and sent by `send_rule_email` after the commit."""
from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from kombu.exceptions import OperationalError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from access.models import Membership

from .mail_actions import do_queue_email
from .mail_models import EmailTemplate
from .mail_render import merge_values, render
from .workflow_actions import MESSAGES_AND_RECORDS, ActionContext, ActionError, register_action

logger = logging.getLogger(__name__)
PEOPLE = {"owner": "owner_id", "assignee": "assignee_id", "requester": "requested_by_id"}


def _id_list(value: Any) -> list[Any]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [part for part in value.replace(";", ",").split(",")]
    return [str(item).strip() for item in value if str(item).strip()]


def _people_labels() -> dict[str, str]:
    return {"owner": _("the owner"), "assignee": _("the assignee"), "requester": _("the requester")}


def _enqueue(email_id: int) -> None:
    from .mail_tasks import send_rule_email

    try:
        send_rule_email.delay(email_id)
    except (OSError, OperationalError):  # the broker is down: the e-mail stays queued and is shown as such
        logger.exception("Could not queue e-mail %s", email_id)


class EmailAction:
    type = "email"
    stage = MESSAGES_AND_RECORDS

    @property
    def form_class(self) -> type:
        """Its settings form in the workflow rule form."""
        from .wfaction_forms import EmailSettingsForm

        return EmailSettingsForm

    def label(self) -> str:
        return _("Send an e-mail")

    # --- settings ---------------------------------------------------------------------------
    def clean(self, config: dict[str, Any], schema: Any, org: Any) -> dict[str, Any]:
        template_id = config.get("template")
        template = None
        if str(template_id or "").isdigit():
            template = EmailTemplate.objects.filter(org=org, pk=int(template_id)).first()
        if template is None or template.module not in ("", schema.key):
            raise ValidationError({"template": _("Choose an e-mail template of this module.")})
        to = config.get("to") or {}
        cleaned: dict[str, Any] = {"owner": False, "assignee": False, "requester": False}
        for who, attribute in PEOPLE.items():
            if to.get(who) in (True, "on", "1", "true"):
                field = "requested_by" if who == "requester" else who
                if not schema.has_field(field):
                    raise ValidationError({"to": _("Records of %(module)s have no %(who)s.")
                                           % {"module": schema.label_plural, "who": _people_labels()[who]}})
                cleaned[who] = True
        ids = _id_list(to.get("users"))
        if any(not item.isdigit() for item in ids):
            raise ValidationError({"to": _("Choose users of this organisation.")})
        users = sorted({int(item) for item in ids})
        members = set(Membership.objects.filter(org=org, user_id__in=users, is_active=True)
                      .values_list("user_id", flat=True))
        if set(users) - members:
            raise ValidationError({"to": _("Choose active users of this organisation.")})
        cleaned["users"] = users
        field_key = str(to.get("field") or "").strip()
        if field_key:
            if not schema.has_field(field_key) or schema.field(field_key).type != "email":
                raise ValidationError({"to": _("“%(field)s” is not an e-mail field of this module.")
                                       % {"field": field_key}})
            field_key = schema.field(field_key).key
        cleaned["field"] = field_key
        addresses = []
        for address in _id_list(to.get("addresses")):
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError({"to": _("“%(address)s” is not a valid e-mail address.") % {"address": address}})
            addresses.append(address.lower())
        cleaned["addresses"] = sorted(set(addresses))
        if not (any(cleaned[who] for who in PEOPLE) or users or field_key or cleaned["addresses"]):
            raise ValidationError({"to": _("Choose at least one recipient.")})
        return {"template": template.pk, "to": cleaned}

    # --- recipients ---------------------------------------------------------------------------
    def recipients(self, config: dict[str, Any], context: ActionContext) -> tuple[list[str], list[str]]:
        """(addresses to send to, in order and without repeats; who has no address, for the log)."""
        from access.models import User

        to = config.get("to") or {}
        record, org = context.record, context.schema.org
        found: list[str] = []
        missing: list[str] = []
        labels = _people_labels()
        user_ids: list[tuple[str, Any]] = [(labels[who], getattr(record, attribute, None))
                                           for who, attribute in PEOPLE.items() if to.get(who)]
        user_ids += [(None, pk) for pk in to.get("users") or []]
        wanted = {pk for _label, pk in user_ids if pk}
        users = {u.pk: u for u in User.objects.filter(pk__in=wanted, is_active=True, memberships__org=org,
                                                      memberships__is_active=True)}
        for label, pk in user_ids:
            user = users.get(pk) if pk else None
            if user is None or not user.email:
                who = label or (_("user #%(id)s") % {"id": pk})
                name = f" ({user})" if user is not None else ""
                missing.append(_("%(who)s%(name)s has no e-mail address") % {"who": who, "name": name})
                continue
            found.append(user.email.lower())
        if to.get("field"):
            try:
                spec = context.schema.field(to["field"])
                value = spec.get_value(record)
            except KeyError:
                spec, value = None, None
            if value:
                found.append(str(value).lower())
            else:
                label = spec.label if spec is not None else to["field"]
                missing.append(_("the field “%(field)s” is empty") % {"field": label})
        found += list(to.get("addresses") or [])
        return list(dict.fromkeys(found)), missing

    def _template(self, config: dict[str, Any], context: ActionContext) -> EmailTemplate:
        template = EmailTemplate.objects.filter(org_id=context.schema.org.pk, pk=config.get("template")).first()
        if template is None:
            raise ActionError(_("The e-mail template of this action was deleted."))
        return template

    def _rendered(self, template: EmailTemplate, context: ActionContext):
        # The rule's actor's view of the record: a field hidden from them never reaches an e-mail.
        values = merge_values(context.schema, context.record, context.actor)
        return render(template.subject, template.body, values, str(getattr(context.rule, "name", "") or ""))

    # --- dry run and run ----------------------------------------------------------------------
    def describe(self, config: dict[str, Any], context: ActionContext) -> str:
        template = self._template(config, context)
        rendered = self._rendered(template, context)
        found, missing = self.recipients(config, context)
        text = _("E-mail “%(subject)s” to %(to)s") % {"subject": rendered.subject, "to": ", ".join(found) or "—"}
        if missing:
            text += " (" + "; ".join(missing) + ")"
        return text

    def run(self, config: dict[str, Any], context: ActionContext) -> str:
        template = self._template(config, context)
        rendered = self._rendered(template, context)
        found, missing = self.recipients(config, context)
        if not found:
            raise ActionError(_("No e-mail sent: %(why)s.") % {"why": "; ".join(missing)})
        record = context.record
        for address in found:
            row, _new = do_queue_email(
                org_id=record.org_id, key=context.key, recipient=address, template_id=template.pk,
                module=context.schema.key, record_id=record.pk, run_id=getattr(context.run, "pk", None),
                actor_id=getattr(context.actor, "pk", None), path=context.path, subject=rendered.subject,
                text=rendered.text, html=rendered.html)
            if row.status == row.Status.QUEUED:  # new, or queued by an earlier try of this run
                transaction.on_commit(lambda pk=row.pk: _enqueue(pk))
        text = _("E-mail “%(subject)s” to %(to)s") % {"subject": rendered.subject, "to": ", ".join(found)}
        if missing:
            text += " — " + _("not sent: %(why)s") % {"why": "; ".join(missing)}
        return text


register_action(EmailAction())
