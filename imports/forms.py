"""The upload form and the mapping form (one choice per column, the duplicate options)."""
from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from . import mapping
from .models import ImportJob
from .reading import ENCODINGS


class UploadForm(forms.Form):
    file = forms.FileField(label=_("CSV or Excel (.xlsx) file"), allow_empty_file=True)  # refused with a reason
    encoding = forms.ChoiceField(label=_("Encoding (CSV)"), choices=ENCODINGS, required=False)


DAY_ORDER = (("1", _("day/month/year (03/12/2026 is 3 December)")),
             ("0", _("month/day/year (03/12/2026 is 12 March)")))


class MappingForm(forms.Form):
    duplicates = forms.ChoiceField(label=_("When a row matches an existing record"),
                                   choices=ImportJob.Duplicates.choices, widget=forms.RadioSelect)
    match_fields = forms.MultipleChoiceField(label=_("A row matches a record when these fields agree"),
                                             required=False, widget=forms.CheckboxSelectMultiple)
    day_first = forms.ChoiceField(label=_("Dates like 03/12/2026 are"), choices=DAY_ORDER)
    place = forms.ChoiceField(label=_("New records go"), required=False)
    all_or_nothing = forms.BooleanField(label=_("Whole file or nothing: if any row fails, import none"),
                                        required=False)
    template_name = forms.CharField(label=_("Save this mapping as a template named"), required=False,
                                    max_length=100)

    def __init__(self, *args: Any, job: ImportJob, choices: list[mapping.Target],
                 places: list[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.job = job
        options = [("", _("— do not import —"))] + [(t.key, t.label) for t in choices]
        self.columns = []
        for index, header in enumerate(job.headers):
            name = f"column_{index}"
            self.fields[name] = forms.ChoiceField(label=header, choices=options, required=False)
            self.initial.setdefault(name, job.mapping.get(str(index), ""))
            samples = [row[index] for row in job.samples if index < len(row) and row[index]]
            self.columns.append({"field": name, "header": header, "samples": samples})
        self.fields["match_fields"].choices = [(t.key, t.label) for t in mapping.match_choices(choices)]
        self.initial.setdefault("duplicates", job.duplicates)
        self.initial.setdefault("match_fields", job.match_fields)
        self.initial.setdefault("day_first", "1" if job.day_first else "0")
        self.initial.setdefault("all_or_nothing", job.all_or_nothing)
        if places:
            self.fields["place"].choices = [("", _("to their owner (you, or the owner column)"))] + list(places)
            self.initial.setdefault("place", job.place)
        else:
            del self.fields["place"]

    def bound_columns(self) -> list[dict[str, Any]]:
        return [{**column, "bound": self[column["field"]]} for column in self.columns]

    def chosen(self) -> dict[str, str]:
        return {str(index): self.cleaned_data.get(f"column_{index}") or "" for index in range(len(self.job.headers))}
