"""Import actions: the only code that writes import jobs, their templates, their results and
their files. Records themselves are written by the record actions (see imports.engine)."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from access.decisions import decide_module
from access.visibility import current_membership, is_org_admin, visible
from crm.actions import ConflictError, do_delete_record, do_update_record
from crm.actions.bulk import copy_values
from crm.modules import get_module

from . import mapping, placement, reading
from .models import ImportedRecord, ImportFailure, ImportJob, ImportTemplate

UNDO_DAYS = 7
UNDO_BATCH = 200  # records undone per transaction (and per step of the progress bar)
UNDO_IN_REQUEST = 500  # an undo of more records runs as a job, with a progress bar
MAX_TEMPLATE_NAME = 100
MAX_COLUMNS = 500  # each column is a field of the mapping form, under the request's field cap


def _schema(job_or_module: Any, org: Any) -> Any:
    key = job_or_module.module if isinstance(job_or_module, ImportJob) else job_or_module
    return get_module(key, org).bind(org)


def _require_creator(job: ImportJob, actor: Any) -> None:
    """The person who uploaded the file goes on with it (administrators may look, not act)."""
    if current_membership(actor) is None or job.org_id != actor.org.pk or job.created_by_id != actor.pk:
        raise PermissionDenied(_("Only the person who uploaded this file may go on with its import."))


def _require_import(schema: Any, actor: Any) -> None:
    decision = decide_module(actor, schema, "import")
    if not decision.allowed:
        raise PermissionDenied(decision.reason or _("You may not import records into this module."))


def _set(job: ImportJob, **values: Any) -> ImportJob:
    for name, value in values.items():
        setattr(job, name, value)
    job.save(update_fields=list(values))
    return job


# --- upload and mapping ----------------------------------------------------------------------

def do_upload_import(schema: Any, uploaded: Any, *, encoding: str = "", actor: Any) -> ImportJob:
    """Keep an uploaded file for an import into `schema`, with its columns, first rows and row
    count, and the columns matched to fields automatically. A file that cannot be read (empty,
    header only, not CSV or XLSX, not in the chosen encoding) is refused with the reason."""
    schema = _schema(schema.key, actor.org)
    _require_import(schema, actor)
    name = (getattr(uploaded, "name", "") or "import.csv")[-255:]
    try:
        fmt = reading.file_format(name)
        uploaded.seek(0)
        used = reading.detect_encoding(uploaded, encoding) if fmt == "csv" else ""
        headers, samples, total = reading.inspect(uploaded, fmt, used or "utf-8")
    except reading.FileProblem as problem:
        raise ValidationError({"file": [str(problem)]})
    except LookupError:
        raise ValidationError({"encoding": [_("Unknown encoding.")]})
    if len(headers) > MAX_COLUMNS:
        raise ValidationError({"file": [_("The file has %(count)d columns; an import takes at most %(limit)d.")
                                        % {"count": len(headers), "limit": MAX_COLUMNS}]})
    uploaded.seek(0)
    path = default_storage.save(f"imports/{actor.org.pk}/{uuid.uuid4().hex}.{fmt}", uploaded)
    choices = mapping.targets(schema, actor)
    auto = mapping.auto_map(headers, choices, title_field=schema.title_field)
    return ImportJob.objects.create(
        org=actor.org, module=schema.key, created_by=actor, file_name=name, file_path=path, file_format=fmt,
        encoding=used, headers=headers, samples=samples, total_rows=total, mapping=auto,
        match_fields=mapping.default_match(choices, auto, schema.title_field), day_first=_day_first())


def _day_first() -> bool:
    """How 03/12/2026 is read unless the importer says otherwise: as the app writes dates in the
    person's language (month first in English), so an exported file comes back as it went out."""
    return not formats.get_format("SHORT_DATE_FORMAT").startswith(("m", "n"))


def do_set_mapping(job: ImportJob, columns: dict[str, str], *, duplicates: str, match_fields: list[str],
                   day_first: bool, all_or_nothing: bool, actor: Any, place: str = "") -> ImportJob:
    """Choose each column's field (or none), how duplicates are treated and matched, how dates
    are read and where new records go (`place`, one of `placement.choices`: e.g. a customer
    pool); the dry run starts from here (status "checking")."""
    _require_creator(job, actor)
    if job.status not in (ImportJob.Status.UPLOADED, ImportJob.Status.CHECKED):
        raise PermissionDenied(_("This import has started; its mapping can no longer change."))
    schema = _schema(job, actor.org)
    _require_import(schema, actor)
    choices = {t.key: t for t in mapping.targets(schema, actor)}
    errors: dict[str, list[str]] = {}
    chosen: dict[str, str] = {}
    for index, key in columns.items():
        if not key:
            continue
        if key not in choices or not index.isdigit() or int(index) >= len(job.headers):
            errors.setdefault("__all__", []).append(_("Choose a field you may import into."))
        elif key in chosen.values():
            errors.setdefault("__all__", []).append(
                _("Two columns go to “%(field)s”: choose one.") % {"field": choices[key].label})
        else:
            chosen[index] = key
    if not chosen:
        errors.setdefault("__all__", []).append(_("Choose a field for at least one column."))
    if duplicates not in ImportJob.Duplicates.values:
        errors.setdefault("duplicates", []).append(_("Choose what to do with duplicates."))
    match_fields = [key for key in dict.fromkeys(match_fields) if key]
    if duplicates != ImportJob.Duplicates.CREATE:
        allowed = {t.key for t in mapping.match_choices(list(choices.values()))}
        if not match_fields:
            errors.setdefault("match_fields", []).append(_("Choose the fields that find a duplicate."))
        for key in match_fields:
            if key not in allowed or key not in chosen.values():
                errors.setdefault("match_fields", []).append(
                    _("Duplicates can only be matched on an imported e-mail, phone or text column."))
                break
    if duplicates == ImportJob.Duplicates.UPDATE:
        decision = decide_module(actor, schema, "bulk_edit")
        if not decision.allowed:
            errors.setdefault("duplicates", []).append(
                decision.reason or _("You may not edit records of this module, so existing records cannot be updated."))
    place = place or ""
    if place and place not in dict(placement.choices(schema, actor)):
        errors.setdefault("place", []).append(_("Choose a place you may send new records to."))
    elif place and "owner" in chosen.values():
        errors.setdefault("place", []).append(
            _("Records put into a pool have no owner: do not import an owner column, or keep them with their owner."))
    if errors:
        raise ValidationError(errors)
    return _set(job, mapping=chosen, duplicates=duplicates, day_first=day_first, all_or_nothing=all_or_nothing,
                place=place,
                match_fields=match_fields if duplicates != ImportJob.Duplicates.CREATE else [],
                status=ImportJob.Status.CHECKING, preview=[], expected={}, error="")


def do_save_template(job: ImportJob, name: str, *, actor: Any) -> ImportTemplate:
    """Save the job's mapping under a name, for files with the same columns (same name: replaced)."""
    _require_creator(job, actor)
    name = (name or "").strip()
    if not name or len(name) > MAX_TEMPLATE_NAME:
        raise ValidationError({"template_name": [_("Give the template a name of at most %(limit)d characters.")
                                                 % {"limit": MAX_TEMPLATE_NAME}]})
    columns = {mapping.normalise(header): job.mapping.get(str(index), "") for index, header in enumerate(job.headers)}
    options = {"duplicates": job.duplicates, "match_fields": job.match_fields, "day_first": job.day_first,
               "all_or_nothing": job.all_or_nothing}
    template, _created = ImportTemplate.objects.update_or_create(
        org=job.org, module=job.module, name=name,
        defaults={"columns": columns, "options": options, "created_by": actor})
    return template


def do_apply_template(job: ImportJob, template: ImportTemplate, *, actor: Any) -> ImportJob:
    """Map the job's columns as the template names them (columns it does not name: by their names)."""
    _require_creator(job, actor)
    if template.org_id != job.org_id or template.module != job.module:
        raise PermissionDenied(_("Template not found."))
    if job.status not in (ImportJob.Status.UPLOADED, ImportJob.Status.CHECKED):
        raise PermissionDenied(_("This import has started; its mapping can no longer change."))
    schema = _schema(job, actor.org)
    choices = mapping.targets(schema, actor)
    options = template.options or {}
    return _set(job, mapping=mapping.auto_map(job.headers, choices, template.columns, title_field=schema.title_field),
                duplicates=options.get("duplicates", job.duplicates),
                match_fields=list(options.get("match_fields", job.match_fields)),
                day_first=bool(options.get("day_first", job.day_first)),
                all_or_nothing=bool(options.get("all_or_nothing", job.all_or_nothing)),
                status=ImportJob.Status.UPLOADED)


# --- the dry run and the run -----------------------------------------------------------------

def do_finish_check(job: ImportJob, preview: list[dict[str, Any]], expected: dict[str, int]) -> ImportJob:
    return _set(job, status=ImportJob.Status.CHECKED, preview=preview, expected=expected)


def do_fail_job(job: ImportJob, reason: str) -> ImportJob:
    return _set(job, status=ImportJob.Status.FAILED, error=reason, finished_at=timezone.now())


def do_confirm_import(job: ImportJob, *, actor: Any) -> ImportJob:
    """Go ahead after the dry run: the import is queued for a worker."""
    _require_creator(job, actor)
    _require_import(_schema(job, actor.org), actor)
    with transaction.atomic():
        current = ImportJob.objects.select_for_update().get(pk=job.pk)
        if current.status != ImportJob.Status.CHECKED:
            raise PermissionDenied(_("This import is not waiting for confirmation."))
        return _set(current, status=ImportJob.Status.QUEUED)


def do_begin_import(job_id: int) -> ImportJob | None:
    """The worker takes the job (again, after a worker died): None if it is not to be run."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().select_related("org").filter(pk=job_id).first()
        if job is None or job.status not in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING):
            return None
        return _set(job, status=ImportJob.Status.RUNNING, started_at=job.started_at or timezone.now())


def _failure(job: ImportJob, outcome: Any) -> ImportFailure:
    return ImportFailure(org_id=job.org_id, job=job, row=outcome.row, cells=outcome.cells, reason=outcome.reason)


def do_record_batch(job: ImportJob, outcomes: Iterable[Any], *, rows_done: int) -> None:
    """A batch's results, in the batch's transaction: what it wrote (for undo), what failed (the
    error file), the counts and how far the file is done."""
    outcomes = list(outcomes)
    copy_values(ImportedRecord, [
        {"org_id": job.org_id, "job_id": job.pk, "row": o.row, "record_id": o.record_id,
         "kind": (ImportedRecord.Kind.CREATED if o.outcome == "create" else ImportedRecord.Kind.UPDATED).value,
         "written": o.written, "before": o.before}
        for o in outcomes if o.outcome in ("create", "update")])
    ImportFailure.objects.bulk_create([_failure(job, o) for o in outcomes if o.outcome == "error"])
    count = {kind: sum(1 for o in outcomes if o.outcome == kind) for kind in ("create", "update", "skip", "error")}
    ImportJob.objects.filter(pk=job.pk).update(
        created_count=F("created_count") + count["create"], updated_count=F("updated_count") + count["update"],
        skipped_count=F("skipped_count") + count["skip"], failed_count=F("failed_count") + count["error"],
        rows_done=rows_done)


def do_record_nothing_written(job: ImportJob, failures: list[Any], *, skipped: int) -> ImportJob:
    """"Whole file or nothing" and some rows failed: everything was rolled back; keep the failures."""
    with transaction.atomic():
        ImportFailure.objects.bulk_create([_failure(job, o) for o in failures], batch_size=1000)
        return _set(job, created_count=0, updated_count=0, skipped_count=skipped, failed_count=len(failures),
                    error=_("Nothing was imported: %(count)d rows failed, and the import was to take the whole "
                            "file or nothing. Fix the rows in the error file and import the whole file again.")
                    % {"count": len(failures)})


def do_finish_import(job: ImportJob) -> ImportJob:
    job.refresh_from_db()
    _forget_file(job)
    return _set(job, status=ImportJob.Status.DONE, finished_at=timezone.now())


def _forget_file(job: ImportJob) -> None:
    """The uploaded file is not kept after its import: the failing rows are in the error file."""
    if job.file_path and default_storage.exists(job.file_path):
        default_storage.delete(job.file_path)


# --- undo ----------------------------------------------------------------------------------------

def undo_refusal(job: ImportJob, actor: Any) -> str | None:
    """Why the import cannot be undone by this person now, or None."""
    if current_membership(actor) is None or job.org_id != actor.org.pk:
        return _("Import not found.")
    if job.created_by_id != actor.pk and not is_org_admin(actor):
        return _("Only the person who ran this import or an administrator may undo it.")
    if job.status == ImportJob.Status.UNDOING and job.error:
        return None  # an undo that stopped: undoing again goes on with it
    if job.status == ImportJob.Status.UNDOING:
        return _("This import is being undone.")
    if job.status != ImportJob.Status.DONE:
        return _("Only a finished import can be undone.")
    if job.finished_at and job.finished_at < timezone.now() - dt.timedelta(days=UNDO_DAYS):
        return _("An import can be undone within %(days)d days; this one is older.") % {"days": UNDO_DAYS}
    if job.created_count == 0 and job.updated_count == 0:
        return _("This import wrote nothing.")
    return None


def do_start_undo(job: ImportJob, *, actor: Any) -> ImportJob:
    """Begin undoing a finished import (status "undoing"): `do_continue_undo` then goes through
    its records, here for a small import or in a job (`tasks.undo_import`) for a large one."""
    reason = undo_refusal(job, actor)
    if reason:
        raise PermissionDenied(reason)
    with transaction.atomic():
        locked = ImportJob.objects.select_for_update().get(pk=job.pk)
        if locked.status == ImportJob.Status.UNDOING and locked.error:
            return _set(locked, error="", undone_by=actor)  # goes on after what the stopped undo committed
        if locked.status != ImportJob.Status.DONE:
            raise PermissionDenied(_("Only a finished import can be undone."))
        total = ImportedRecord.objects.filter(org=locked.org_id, job=locked).count()
        return _set(locked, status=ImportJob.Status.UNDOING, undone_by=actor, undo_total=total, undo_done=0,
                    undo_report={"deleted": 0, "restored": 0, "refused": [], "refused_count": 0}, error="")


def do_continue_undo(job: ImportJob, *, actor: Any) -> ImportJob:
    """Delete the records the import created (to the recycle bin) and put back the fields it
    updated, each through the record actions, as `actor` (who asked for the undo). A record
    changed since the import (any field the import wrote has another value now) is left as it
    is, and the report says why. Each batch commits with the report and how far it got, so a
    re-run (a worker died) resumes after the last committed batch."""
    schema = _schema(job, actor.org)
    # From the last row up: a record a later row of the file updated is put back before an
    # earlier row's creation of it is undone.
    items = ImportedRecord.objects.filter(org=job.org_id, job=job).order_by("-pk")
    while True:
        with transaction.atomic():
            locked = ImportJob.objects.select_for_update().get(pk=job.pk)
            if locked.status != ImportJob.Status.UNDOING:
                return locked
            batch = list(items[locked.undo_done:locked.undo_done + UNDO_BATCH])
            if not batch:
                return _set(locked, status=ImportJob.Status.UNDONE, undone_at=timezone.now())
            report = dict(locked.undo_report)
            _undo_batch(schema, batch, actor, report)
            _set(locked, undo_report=report, undo_done=locked.undo_done + len(batch))


def do_undo_import(job: ImportJob, *, actor: Any) -> ImportJob:
    """Undo an import here and now (see `do_continue_undo`)."""
    return do_continue_undo(do_start_undo(job, actor=actor), actor=actor)


def do_fail_undo(job: ImportJob, reason: str) -> ImportJob:
    """The undo job stopped: the import stays "undoing", with the reason, and undoing it again
    goes on after what was committed."""
    return _set(job, error=reason)
def _undo_batch(schema: Any, items: list[ImportedRecord], actor: Any, report: dict[str, Any]) -> None:
    ids = [item.record_id for item in items]
    current = {r.pk: r for r in visible(actor, schema, "view", listing=False).filter(pk__in=ids)}
    for item in items:
        record = current.get(item.record_id)
        reason = None
        if record is None:
            reason = _("The record is gone or out of your reach.")
        else:
            changed = [schema.field(key).label for key, value in item.written.items()
                       if schema.has_field(key)
                       and schema.field(key).field_type.to_json(schema.field(key).get_value(record)) != value]
            if changed:
                reason = _("Changed since the import (%(fields)s).") % {"fields": ", ".join(changed)}
        if reason is None:
            try:
                if item.kind == ImportedRecord.Kind.CREATED:
                    do_delete_record(record, version=record.version, actor=actor, path="import")
                    report["deleted"] += 1
                else:
                    # The record as it is now, for an earlier row of the file that wrote it too.
                    current[item.record_id] = do_update_record(record, dict(item.before), version=record.version,
                                                               actor=actor, path="import", schema=schema)
                    report["restored"] += 1
            except (PermissionDenied, ValidationError, ConflictError) as exc:
                reason = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        if reason is not None:
            report["refused_count"] += 1
            if len(report["refused"]) < 200:
                report["refused"].append({"row": item.row, "record": str(record) if record is not None else "",
                                          "reason": reason})
