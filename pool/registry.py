"""What the pools plug into at start-up: the access layer (a grant, masks, guards, field rules),
crm's record pages and timeline, and user deactivation."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import pre_save
from django.utils.translation import gettext_lazy as _

TIMELINE_KINDS = {
    "pool_claimed": _("Claimed from the pool"), "pool_assigned": _("Assigned from the pool"),
    "pool_released": _("Released to the pool"), "pool_moved": _("Moved to the pool"),
    "pool_deactivated": _("Returned to the pool (owner deactivated)"),
    "pool_recycled": _("Recycled to the pool"), "pool_imported": _("Imported into the pool"), "pool_protected": _("Protected from recycling"),
    "pool_unprotected": _("Protection from recycling removed"),
    "pool_possible_duplicate": _("Marked as a possible duplicate"),
}
TIMELINE_FIELDS = {"pool": _("Pool"), "duplicate_of": _("Possible duplicate of"), "matched": _("Same")}


def recycled_value(key: str, value: Any) -> Any:
    """A recycled record's timeline entry: its reason, stored as a code, read in the viewer's
    language (pool.reasons)."""
    from .reasons import reason_text

    return reason_text(value) if key == "reason" and value is not None else value


def refuse_masked_save(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    """A record read with masked values is never written back (it would store the mask)."""
    from access.masking import MASKED_ATTR

    masked = getattr(instance, MASKED_ATTR, None)
    if masked and (update_fields is None or set(masked) & set(update_fields)):
        raise ImproperlyConfigured(f"refusing to save {sender.__name__} #{instance.pk} read with masked fields")


def register() -> None:
    from access.actions import register_deactivation_listener
    from access.decisions import (register_decision_guard, register_field_rules, register_guard,
                                  register_preloader)
    from access.masking import register_masker
    from access.visibility import register_grant_provider
    from crm.guards import register_after_write
    from crm.models import Account, Contact, Lead
    from crm.modules import register_header_panel_provider, register_panel_provider
    from crm.templatetags.crm_tags import EXTRA_LABELS, KIND_LABELS, KIND_VALUES

    from crm.events import subscribe
    from crm.modules import register_row_mark_provider

    from . import actions, door, panels, recycle, recycle_actions, recycle_ui, rules

    register_grant_provider(rules.pool_grants)
    register_masker(rules.pool_masks)
    for action in ("claim", "release", "assign"):
        register_decision_guard(action, rules.pool_guard)
    register_guard(rules.waiting_record_guard)
    register_preloader(rules.preload_states)
    register_field_rules(rules.pool_field_rules)
    register_after_write(actions.note_owner_change)
    register_deactivation_listener(panels.on_deactivation)
    register_header_panel_provider(panels.header_panel)
    register_panel_provider(panels.history_panel)
    # Recycling: due dates kept by events, the protect decision, the countdown badges.
    subscribe(recycle.on_events, durable=True)
    register_decision_guard("protect", recycle_actions.protect_guard)
    register_header_panel_provider(recycle_ui.header_panel)
    register_row_mark_provider(recycle_ui.due_marks)
    # Import straight into a pool; rules leave the records waiting there alone.
    from automation.holds import register_hold
    from imports.placement import Place, register_place

    from . import import_place

    register_place(Place("pool", import_place.choices, import_place.check, import_place.place))
    register_hold(rules.pooled_hold)
    register_hold(rules.waiting_contact_hold)
    # Dedupe at the door: records let in that look like others are marked, pointing at them.
    register_header_panel_provider(door.header_panel)
    register_row_mark_provider(door.row_marks)
    for key, label in TIMELINE_KINDS.items():
        KIND_LABELS.setdefault(key, label)
    for key, label in TIMELINE_FIELDS.items():
        EXTRA_LABELS.setdefault(key, label)
    KIND_VALUES.setdefault("pool_recycled", recycled_value)
    for model in (Lead, Account, Contact):
        pre_save.connect(refuse_masked_save, sender=model, dispatch_uid=f"pool-masked-{model.__name__}")
