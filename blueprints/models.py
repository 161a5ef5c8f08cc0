"""Blueprints: a process drawn over one picklist field of a module (a deal's stage, a case
study's status), defined by people at run time, so they are rows.

- Blueprint: one version of a process. Versions of the same process share `key`. A draft is
  edited; publishing makes it the version new records enter (the previous published version is
  superseded: records already inside keep it until they leave or an administrator migrates
  them); deactivating stops the whole process (every version) governing records.
- Transition: a move between states (the field's values) in one version, with its owners, the
  criteria that must hold before it is offered, what the performer fills in during it, and the
  automation actions run after it. `key` is shared by the copies of a transition across versions.
- BlueprintRecord: a record inside a version: its state, since when (for the SLA), and the
  sign-offs given so far toward a parallel transition.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from access.models import Organization


def new_key() -> str:
    return uuid.uuid4().hex[:16]


class Blueprint(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        SUPERSEDED = "superseded", _("Superseded")  # an older published version: keeps its records
        DEACTIVATED = "deactivated", _("Deactivated")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=16, default=new_key)
    version = models.PositiveIntegerField(default=1)
    name = models.CharField(_("name"), max_length=120)
    module = models.CharField(max_length=60)
    field = models.CharField(_("state field"), max_length=60)
    start_state = models.CharField(_("start state"), max_length=100)
    criteria = models.JSONField(_("entry criteria"), default=dict, blank=True)
    # {state: {"amount": n, "unit": "hours"|"days", "manager": bool, "users": [user ids]}}
    sla = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "key", "version"], name="uniq_blueprint_version"),
            models.UniqueConstraint(fields=["org", "key"], condition=models.Q(status="published"),
                                    name="uniq_blueprint_published"),
        ]
        indexes = [models.Index(fields=["org", "module", "status"], name="blueprint_org_module")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT

    @property
    def governs(self) -> bool:
        """Whether the records inside this version are held to it."""
        return self.status in (self.Status.PUBLISHED, self.Status.SUPERSEDED)


class Transition(models.Model):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    blueprint = models.ForeignKey(Blueprint, on_delete=models.CASCADE, related_name="transitions")
    key = models.CharField(max_length=16, default=new_key)
    name = models.CharField(_("name"), max_length=100)
    any_state = models.BooleanField(_("from every state"), default=False)  # a common transition
    from_states = models.JSONField(_("from"), default=list, blank=True)
    to_state = models.CharField(_("to"), max_length=100)
    # {"users": [ids], "roles": [ids], "groups": [ids], "team_roles": [names], "owner": bool, "assignee": bool}
    owners = models.JSONField(default=dict, blank=True)
    before = models.JSONField(_("before"), default=dict, blank=True)  # criteria
    # {"fields": [{"key": k, "required": bool}], "note": bool, "attachment": bool, "checklist": [texts]}
    during = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=list, blank=True)  # automation action dicts ({"type": ..., ...})
    # Transitions of one version sharing a parallel group (and a to-state) are sign-offs: the record
    # moves once each of them is done.
    parallel = models.CharField(_("parallel group"), max_length=60, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["org", "blueprint", "position"], name="transition_org_bp")]

    def __str__(self) -> str:
        return self.name

    def leaves(self, state: str) -> bool:
        return self.any_state or state in (self.from_states or [])


class BlueprintRecord(models.Model):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    blueprint = models.ForeignKey(Blueprint, on_delete=models.CASCADE, related_name="records")
    module = models.CharField(max_length=60)
    record_id = models.BigIntegerField()
    state = models.CharField(max_length=100)
    entered_at = models.DateTimeField()  # when the record entered its current state
    signoffs = models.JSONField(default=list, blank=True)  # transition keys done toward a parallel move
    escalated_at = models.DateTimeField(null=True, blank=True)  # the SLA escalation of this stay, once
    visit = models.PositiveIntegerField(default=1)  # counts the states visited: keys after-action runs

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "module", "record_id"], name="uniq_blueprint_record")]
        indexes = [models.Index(fields=["org", "blueprint", "state", "entered_at"], name="bp_record_state")]
