"""The pool settings form: who belongs, who administers, what is masked, the limits, and what
the door does with duplicates."""
from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from access.models import Group, OrgRole
from crm.forms import org_members
from crm.widgets import member_widget

from .models import POOL_MODULES, Dedupe
from .rules import MASKABLE_TYPES


class PoolForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    module = forms.ChoiceField(label=_("Module"), choices=POOL_MODULES)
    member_users = forms.ModelMultipleChoiceField(label=_("Member users"), queryset=None, required=False,
                                                  widget=member_widget(multiple=True))
    member_roles = forms.ModelMultipleChoiceField(label=_("Member roles"), queryset=None, required=False)
    member_groups = forms.ModelMultipleChoiceField(label=_("Member groups"), queryset=None, required=False)
    member_spaces = forms.ModelMultipleChoiceField(label=_("Member team spaces"), queryset=None, required=False)
    admins = forms.ModelMultipleChoiceField(label=_("Pool administrators (assign from the pool)"), queryset=None,
                                            required=False, widget=member_widget(multiple=True))
    masked_fields = forms.MultipleChoiceField(label=_("Masked fields (until claimed)"), required=False,
                                              widget=forms.CheckboxSelectMultiple)
    capacity = forms.IntegerField(label=_("Records a rep may hold at once"), min_value=1, max_value=1_000_000,
                                  required=False, help_text=_("Empty: no limit."))
    capacity_counts_won = forms.BooleanField(label=_("Won customers count towards it"), required=False,
                                             initial=True)
    daily_claims = forms.IntegerField(label=_("Claims per rep per day"), min_value=1, max_value=1_000_000,
                                      required=False, help_text=_("Empty: no limit."))
    cooldown_days = forms.IntegerField(label=_("Cool-down days for the former owner"), min_value=0,
                                       max_value=10_000, required=False, initial=0)
    embargo_hours = forms.IntegerField(label=_("Embargo hours on new entries (only pool administrators claim)"),
                                       min_value=0, max_value=100_000, required=False, initial=0)
    release_on_deactivation = forms.BooleanField(label=_("A deactivated owner's records enter this pool"),
                                                 required=False)
    dedupe = forms.ChoiceField(
        label=_("Duplicates at the door"), choices=Dedupe.choices, initial=Dedupe.REFUSE, required=False,
        widget=forms.RadioSelect,
        help_text=_("A record released or moved into the pool is compared with the records waiting in it, and "
                    "with the others entering with it, by phone, e-mail and company name (ignoring case, spaces, "
                    "full-width characters, how a phone is written and endings such as 有限公司 or Ltd.). Merging "
                    "keeps the existing record's values and fills its empty fields from the entering one, which "
                    "goes to the recycle bin; it needs the right to edit both. Records entering by themselves "
                    "(an owner deactivated, recycling) are never refused: they are marked as possible duplicates."))

    def __init__(self, *args: Any, org: Any, module_key: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from crm.modules import get_module
        from teams.models import TeamSpace

        self.fields["member_users"].queryset = org_members(org)
        self.fields["admins"].queryset = org_members(org)
        self.fields["member_roles"].queryset = OrgRole.objects.filter(org=org).order_by("path")
        self.fields["member_groups"].queryset = Group.objects.filter(org=org).order_by("name")
        self.fields["member_spaces"].queryset = TeamSpace.objects.filter(org=org).order_by("name_en")
        schema = get_module(module_key, org).bind(org)
        self.fields["masked_fields"].choices = [(spec.key, spec.label) for spec in schema.fields
                                                if spec.type in MASKABLE_TYPES]

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"], "module": data["module"], "masked_fields": data["masked_fields"],
            "members": {"users": data["member_users"], "roles": data["member_roles"],
                        "groups": data["member_groups"], "spaces": data["member_spaces"]},
            "admins": data["admins"],
            **{key: data.get(key) for key in ("capacity", "capacity_counts_won", "daily_claims", "cooldown_days",
                                              "embargo_hours", "release_on_deactivation", "dedupe")},
        }

    @staticmethod
    def initial_for(pool: Any) -> dict[str, Any]:
        if pool is None:
            return {"capacity_counts_won": True, "cooldown_days": 0, "embargo_hours": 0, "dedupe": Dedupe.REFUSE}
        return {"name": pool.name, "module": pool.module, "masked_fields": pool.masked_fields,
                "member_users": list(pool.member_users.all()), "member_roles": list(pool.member_roles.all()),
                "member_groups": list(pool.member_groups.all()), "member_spaces": list(pool.member_spaces.all()),
                "admins": list(pool.admins.all()), "capacity": pool.capacity,
                "capacity_counts_won": pool.capacity_counts_won, "daily_claims": pool.daily_claims,
                "cooldown_days": pool.cooldown_days, "embargo_hours": pool.embargo_hours,
                "release_on_deactivation": pool.release_on_deactivation, "dedupe": pool.dedupe}
