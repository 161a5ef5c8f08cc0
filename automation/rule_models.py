"""Validation rules and layout rules, per module (org modules and team modules alike, by the
module's key, as locking keys its rows).

- ValidationRule: criteria checked on every create and update. "must not match": the save is
  refused when the record (with the new values) matches; "must match": when it does not. The
  message, in English and Chinese, is shown under `field` (a field key; blank: above the form).
- LayoutRule: while the record's values match the criteria, `show_fields` are shown (they are
  hidden while no active rule shows them), `hide_fields` are hidden and `require_fields` are
  required. Hidden fields keep their stored value: a form does not offer them, so a post cannot
  change them. Required is enforced on every write path.

Field keys are stored as JSON lists and checked by the actions against the module's schema.
Rules are ordered by `position` within their module.
"""
from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from access.models import Organization

NAME_MAX = 100
MESSAGE_MAX = 300


class ValidationRule(models.Model):
    class Mode(models.TextChoices):
        MUST_NOT_MATCH = "must_not_match", _("The record must not match the criteria")
        MUST_MATCH = "must_match", _("The record must match the criteria")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=100)
    name = models.CharField(_("name"), max_length=NAME_MAX)
    active = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(default=0)
    criteria = models.JSONField(_("criteria"), default=dict)  # crm.criteria JSON, validated
    mode = models.CharField(_("mode"), max_length=20, choices=Mode.choices, default=Mode.MUST_NOT_MATCH)
    message_en = models.CharField(_("error message (English)"), max_length=MESSAGE_MAX)
    message_zh = models.CharField(_("error message (Chinese)"), max_length=MESSAGE_MAX, blank=True)
    field = models.CharField(_("show the message next to"), max_length=100, blank=True)  # a field key
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "module", "name"], name="uniq_validationrule_name")]
        indexes = [models.Index(fields=["org", "module", "position"], name="validationrule_org_module")]

    def __str__(self) -> str:
        return self.name


class LayoutRule(models.Model):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=100)
    name = models.CharField(_("name"), max_length=NAME_MAX)
    active = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(default=0)
    criteria = models.JSONField(_("criteria"), default=dict)  # when the rule applies
    show_fields = models.JSONField(_("fields shown"), default=list, blank=True)
    hide_fields = models.JSONField(_("fields hidden"), default=list, blank=True)
    require_fields = models.JSONField(_("fields required"), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "module", "name"], name="uniq_layoutrule_name")]
        indexes = [models.Index(fields=["org", "module", "position"], name="layoutrule_org_module")]

    def __str__(self) -> str:
        return self.name
