"""The workflow action "webhook": POST the record as JSON to a URL, signed, from a task.

Settings (`config`): {"url": "https://...", "secret": "..." (optional), "fields": [field keys]}.
The body (record id, module, the chosen fields the rule's actor may see, rule, event, time) and
its signature, `X-CRM-Signature: sha256=<HMAC-SHA256 of the body with the secret, hex>`, are fixed
when the rule runs; `X-CRM-Delivery` names the delivery, the same on every retry."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from kombu.exceptions import OperationalError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .webhook_actions import do_create_delivery
from .webhook_net import AddressRefused, check_url
from .workflow_actions import WEBHOOKS, ActionContext, ActionError, register_action

logger = logging.getLogger(__name__)
SECRET_MAX = 200


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _enqueue(delivery_pk: int) -> None:
    from .webhook_tasks import deliver_webhook

    try:
        deliver_webhook.delay(delivery_pk)
    except (OSError, OperationalError):  # the broker is down: the delivery stays pending and is shown as such
        logger.exception("Could not queue webhook delivery %s", delivery_pk)


class WebhookAction:
    type = "webhook"
    stage = WEBHOOKS

    @property
    def form_class(self) -> type:
        """Its settings form in the workflow rule form."""
        from .wfaction_forms import WebhookSettingsForm

        return WebhookSettingsForm

    def label(self) -> str:
        return _("Call a webhook")

    def clean(self, config: dict[str, Any], schema: Any, org: Any) -> dict[str, Any]:
        url = str(config.get("url") or "").strip()
        if len(url) > 2000:
            raise ValidationError({"url": _("At most %(limit)d characters.") % {"limit": 2000}})
        try:
            check_url(url)
        except AddressRefused as exc:
            raise ValidationError({"url": str(exc)})
        secret = str(config.get("secret") or "")
        if len(secret) > SECRET_MAX:
            raise ValidationError({"secret": _("At most %(limit)d characters.") % {"limit": SECRET_MAX}})
        keys = config.get("fields") or []
        if isinstance(keys, str):
            keys = [part.strip() for part in keys.split(",") if part.strip()]
        fields = []
        for key in keys:
            if not schema.has_field(str(key)):
                raise ValidationError({"fields": _("“%(field)s” is not a field of this module.") % {"field": key}})
            fields.append(schema.field(str(key)).key)
        return {"url": url, "secret": secret, "fields": list(dict.fromkeys(fields))}

    def payload(self, config: dict[str, Any], context: ActionContext, delivery_id: str) -> dict[str, Any]:
        record, schema = context.record, context.schema
        allowed = {spec.key: spec for spec in schema.fields_for(context.actor)}  # hidden fields never leave
        fields = {}
        for key in config.get("fields") or []:
            spec = allowed.get(key)
            if spec is not None:
                fields[key] = spec.field_type.to_json(spec.get_value(record))
        event = getattr(context.event, "kind", "") or getattr(context.run, "trigger", "") or ""
        rule = context.rule
        return {"delivery": delivery_id, "event": event, "module": schema.key,
                "record": {"id": record.pk, "fields": fields},
                "rule": {"id": getattr(rule, "pk", None), "name": str(getattr(rule, "name", "") or "")},
                "timestamp": timezone.now().isoformat()}

    def describe(self, config: dict[str, Any], context: ActionContext) -> str:
        names = [context.schema.field(key).label for key in config.get("fields") or []
                 if context.schema.has_field(key)]
        text = _("POST to %(url)s") % {"url": config.get("url", "")}
        if names:
            text += " " + _("(fields: %(fields)s)") % {"fields": ", ".join(names)}
        return text

    def run(self, config: dict[str, Any], context: ActionContext) -> str:
        url = config.get("url", "")
        try:
            check_url(url)
        except AddressRefused as exc:
            raise ActionError(str(exc))
        delivery_id = uuid.uuid4().hex
        body = json.dumps(self.payload(config, context, delivery_id), cls=DjangoJSONEncoder, sort_keys=True,
                          separators=(",", ":"), ensure_ascii=False).encode()
        rule = context.rule
        delivery, _new = do_create_delivery(
            org_id=context.schema.org.pk, key=context.key, delivery_id=delivery_id,
            rule_kind=str(getattr(context.run, "rule_kind", "") or "workflow"), rule_id=getattr(rule, "pk", 0) or 0,
            run_id=getattr(context.run, "pk", None), module=context.schema.key, record_id=context.record.pk,
            url=url, body=body.decode(), signature=sign(config["secret"], body) if config.get("secret") else "")
        if delivery.status == delivery.Status.PENDING:  # new, or left by an earlier try of this run
            transaction.on_commit(lambda: _enqueue(delivery.pk))
        return _("POST to %(url)s queued (delivery %(id)s)") % {"url": url, "id": delivery.delivery_id}


register_action(WebhookAction())
