"""The org configuration audit log, for administrators (anyone else: 404): filter by event,
actor, date range and object; page through it; export it as CSV. There is deliberately no view
that changes or deletes an entry."""
from __future__ import annotations

import csv
import datetime
import json
from typing import Any, Iterator

from django import forms
from django.apps import apps
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import AuditEntry, Membership
from .settings_views import AdminView

PAGE_SIZE = 50
EXPORT_CHUNK = 2000
# A cell starting with one of these is read as a formula by spreadsheet programs.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
OBJECT_TYPES = ("crm.fielddefinition", "module", "access.user", "access.profile", "access.orgrole", "access.group",
                "access.sharingrule", "locking.lockconfig", "locking.lockrule", "locking.fieldlock",
                "teams.teamspace", "teams.teammodule")


def escape_formula(value: str) -> str:
    """Neutralise a cell a spreadsheet would evaluate, with a leading apostrophe."""
    return f"'{value}" if value.startswith(FORMULA_START) else value


def object_type_label(object_type: str) -> str:
    if object_type == "module":
        return _("Module")
    try:
        return str(apps.get_model(object_type)._meta.verbose_name).capitalize()
    except (LookupError, ValueError):
        return object_type


class AuditFilterForm(forms.Form):
    event = forms.ChoiceField(label=gettext_lazy("Event"), required=False)
    actor = forms.TypedChoiceField(label=gettext_lazy("Who"), required=False, coerce=int, empty_value=None)
    since = forms.DateField(label=gettext_lazy("From"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    object_type = forms.ChoiceField(label=gettext_lazy("Object type"), required=False)
    object_id = forms.CharField(label=gettext_lazy("Object id"), required=False, max_length=100)
    q = forms.CharField(label=gettext_lazy("Object name contains"), required=False, max_length=100)

    def __init__(self, *args: Any, org: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["event"].choices = [("", _("Any"))] + list(AuditEntry.Event.choices)
        members = Membership.objects.filter(org=org).select_related("user").order_by("user__username")
        self.fields["actor"].choices = [("", _("Anyone"))] + [(m.user_id, str(m.user)) for m in members]
        self.fields["object_type"].choices = [("", _("Any"))] + [(t, object_type_label(t)) for t in OBJECT_TYPES]
        for field in self.fields.values():
            is_select = isinstance(field.widget, forms.Select)
            field.widget.attrs["class"] = "form-select form-select-sm" if is_select else "form-control form-control-sm"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", _("The end date is before the start date."))
        return data

    def filter(self, queryset: Any) -> Any:
        data = self.cleaned_data
        if data.get("event"):
            queryset = queryset.filter(event=data["event"])
        if data.get("actor"):
            queryset = queryset.filter(actor_id=data["actor"])
        zone = timezone.get_current_timezone()
        if data.get("since"):
            queryset = queryset.filter(at__gte=datetime.datetime.combine(data["since"], datetime.time.min, zone))
        if data.get("until"):
            end = data["until"] + datetime.timedelta(days=1)
            queryset = queryset.filter(at__lt=datetime.datetime.combine(end, datetime.time.min, zone))
        if data.get("object_type"):
            queryset = queryset.filter(object_type=data["object_type"])
        if data.get("object_id"):
            queryset = queryset.filter(object_id=data["object_id"].strip())
        if data.get("q"):
            queryset = queryset.filter(object_name__icontains=data["q"].strip())
        return queryset


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str) if value is not None else ""


def changes_of(entry: AuditEntry) -> list[tuple[str, str, str]]:
    """(key, before, after) rows for the page; whole values when one side is not a dict."""
    old, new = entry.old_value, entry.new_value
    if isinstance(old, dict) or isinstance(new, dict):
        old, new = old if isinstance(old, dict) else {}, new if isinstance(new, dict) else {}
        return [(key, _json(old.get(key)) if key in old else "", _json(new.get(key)) if key in new else "")
                for key in {**old, **new}]
    return [("", _json(old), _json(new))] if old is not None or new is not None else []


def _entries(request: HttpRequest) -> tuple[AuditFilterForm, Any]:
    form = AuditFilterForm(request.GET or None, org=request.org)
    entries = AuditEntry.objects.filter(org=request.org)
    if form.is_bound and form.is_valid():
        entries = form.filter(entries)
    elif form.is_bound:
        entries = entries.none()
    return form, entries.order_by("-at", "-pk")


class AuditLogView(AdminView):
    """Newest first, a page at a time. The log only grows, so pages are read without counting the
    rows (one row more than a page says whether there are older)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        form, entries = _entries(request)
        try:
            number = min(max(int(request.GET.get("page", 1)), 1), 100_000)
        except (TypeError, ValueError):
            number = 1
        start = (number - 1) * PAGE_SIZE
        rows = list(entries.select_related("actor")[start:start + PAGE_SIZE + 1])
        for entry in rows:
            entry.changes = changes_of(entry)
            entry.type_label = object_type_label(entry.object_type)
        query = request.GET.copy()
        query.pop("page", None)
        return render(request, "access/settings_audit_log.html", {
            "form": form, "entries": rows[:PAGE_SIZE], "number": number, "has_newer": number > 1,
            "has_older": len(rows) > PAGE_SIZE, "newer": number - 1, "older": number + 1,
            "query": query.urlencode(),
        }, status=400 if form.is_bound and not form.is_valid() else 200)


class AuditLogExportView(AdminView):
    """The filtered log as CSV (UTF-8 with BOM, so spreadsheets read Chinese right), streamed;
    every cell that a spreadsheet would run as a formula is escaped."""

    def get(self, request: HttpRequest) -> HttpResponse:
        form, entries = _entries(request)
        if form.is_bound and not form.is_valid():
            return HttpResponse(" ".join(str(e) for errors in form.errors.values() for e in errors),
                                status=400, content_type="text/plain; charset=utf-8")
        response = StreamingHttpResponse(self.lines(entries), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
        return response

    @staticmethod
    def lines(entries: Any) -> Iterator[str]:
        class Echo:
            def write(self, value: str) -> str:
                return value

        writer = csv.writer(Echo())
        header = [_("Time"), _("Who"), _("Event"), _("Object type"), _("Object id"), _("Object"), _("Before"),
                  _("After"), _("Request id")]
        yield "\ufeff" + writer.writerow([escape_formula(str(h)) for h in header])
        labels = dict(AuditEntry.Event.choices)
        for entry in entries.iterator(chunk_size=EXPORT_CHUNK):
            cells = [entry.at.isoformat(), entry.actor_name, str(labels.get(entry.event, entry.event)),
                     object_type_label(entry.object_type), entry.object_id, entry.object_name,
                     _json(entry.old_value), _json(entry.new_value), entry.request_id]
            yield writer.writerow([escape_formula(str(cell)) for cell in cells])
